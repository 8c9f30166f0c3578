# Optional native addons, built at install time by scripts/build-native.mjs (a failed build only
# prints a warning: every addon has a pure-JS fallback or a clear "unavailable" error).
# One target per addon; add new ones to the list.
{
  'targets': [
    {
      # vsock-bridge: AF_VSOCK socket/bind/listen/connect + local-CID ioctl (Linux only).
      'target_name': 'vsock',
      'conditions': [
        ['OS=="linux"', {
          'sources': ['vsock-bridge/native/vsock.cc'],
          'cflags_cc': ['-std=c++17', '-Wall', '-Wextra', '-O2'],
          'defines': ['NAPI_VERSION=8'],
        }, {
          # No AF_VSOCK elsewhere: build nothing, the loader reports ERR_VSOCK_UNAVAILABLE.
          'type': 'none',
        }],
      ],
    },
    {
      # nsm: the /dev/nsm ioctl (0xC0200A00) on the libuv thread pool (Linux only).
      'target_name': 'nsm',
      'conditions': [
        ['OS=="linux"', {
          'sources': ['nsm/native/nsm.c'],
          'cflags': ['-std=c11', '-Wall', '-Wextra', '-O2'],
        }, {
          # No /dev/nsm elsewhere: build nothing, openAttester reports ERR_NSM_UNAVAILABLE.
          'type': 'none',
        }],
      ],
    },
  ],
}
