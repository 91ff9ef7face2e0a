{
  "targets": [
    {
      "target_name": "fslock",
      "sources": [
        "native/binding.cc",
        "native/waiter.cc",
        "native/wait_pool.cc",
        "native/glue_locks.cc",
        "native/glue_atomic.cc",
        "native/lock_check.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: an error thrown to JavaScript while the
      # environment is being torn down (a worker stopped by process.exit() or
      # terminate()) cannot be thrown; node-addon-api then aborts the process unless
      # told to drop it (test/waits-teardown.test.js: 26 of 200 exits aborted).
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-O2"],
      "cflags_cc!": ["-fno-exceptions"],
      "conditions": [
        ["OS=='win'", {
          "sources": ["native/win32_locks.cc", "native/win32_ranges.cc", "native/win32_atomic.cc", "native/win32_wait.cc"]
        }, {
          "sources": ["native/posix_locks.cc", "native/posix_atomic.cc", "native/posix_wait.cc",
                      "native/posix_witness.cc", "native/posix_command.cc", "native/glue_witness.cc"]
        }],
        # -z now: every symbol bound at load time. The command's witness (native/
        # posix_witness.cc) runs in fslock's memory with fslock's thread pointer, where a
        # lazily bound call would run the dynamic linker on the main thread's behalf.
        ["OS=='linux'", {
          "cflags_cc": ["-include", "<(module_root_dir)/native/glibc_compat.h"],
          "ldflags": ["-Wl,-z,now"]
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
            "MACOSX_DEPLOYMENT_TARGET": "10.15"
          }
        }]
      ]
    }
  ]
}
