// Node-API glue for atomic files (writeFileAtomic, createExclusive, moveAtomic).
#include "glue.h"

namespace fslock {

void InitAtomic(Napi::Env env, Napi::Object exports) {
  (void)env;
  (void)exports;
}

}  // namespace fslock
