// POSIX calls for atomic files.
#include "fslock.h"
