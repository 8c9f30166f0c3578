// Minimal AF_VSOCK syscalls for Node (N-API, Linux only).
//
// Node and libuv cannot create, bind or connect AF_VSOCK sockets, but libuv streams work on a
// connected or listening AF_VSOCK fd once it is wrapped in a Pipe handle (see ../uv-pipe.ts). So
// this addon only does what libuv cannot: socket(), bind()+listen(), a non-blocking connect()
// whose completion is watched with a uv_poll_t on Node's own loop, name queries, the vsock
// connect-timeout option and the local-CID ioctl. All reads and writes go through libuv.
//
// The same functions also take AF_UNIX and AF_INET (IPv4) addresses, so the tests can run this
// exact code path where vsock has no loopback: unix sockets for streams, and a TCP listener whose
// backlog is full for connect timeouts and cancellation.
//
// Errors are thrown as Error objects with `errno` (positive) and `syscall`; the TypeScript side
// turns them into Node-style codes (util.getSystemErrorName).

#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <unordered_map>
#include <vector>

namespace {

#define CHECK_NAPI(env, call)                                       \
  do {                                                              \
    if ((call) != napi_ok) {                                        \
      napi_throw_error((env), "ERR_VSOCK_NATIVE", "N-API call failed: " #call); \
      return nullptr;                                               \
    }                                                               \
  } while (0)

napi_value ThrowErrno(napi_env env, int err, const char* syscall) {
  char msg[128];
  snprintf(msg, sizeof msg, "%s: %s", syscall, strerror(err));
  napi_value message, error, errno_value, syscall_value;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, nullptr, message, &error);
  napi_create_int32(env, err, &errno_value);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_value);
  napi_set_named_property(env, error, "errno", errno_value);
  napi_set_named_property(env, error, "syscall", syscall_value);
  napi_throw(env, error);
  return nullptr;
}

napi_value ThrowType(napi_env env, const char* msg) {
  napi_throw_type_error(env, nullptr, msg);
  return nullptr;
}

// Integers in int32 range only: napi_get_value_int32 turns NaN and Infinity into 0 and 2**32 + 5
// into 5, so close(NaN) would have closed stdin and close(2**32 + fd) another fd.
bool GetInt32(napi_env env, napi_value v, int32_t* out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return false;
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  if (!(d >= -2147483648.0 && d <= 2147483647.0) || d != static_cast<double>(static_cast<int32_t>(d))) return false;
  *out = static_cast<int32_t>(d);
  return true;
}

bool GetUint32(napi_env env, napi_value v, uint32_t* out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return false;
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d))) return false;
  *out = static_cast<uint32_t>(d);
  return true;
}

// One socket address, either family. `len` is what bind/connect take.
struct Addr {
  union {
    sockaddr_vm vm;
    sockaddr_un un;
    sockaddr_in in;
    sockaddr_storage storage;
  } u;
  socklen_t len;
};

// Reads (family, cid|pathBuffer, port) from args[first..first+2] into `a`.
// family 0 = AF_VSOCK (cid: u32, port: u32); 1 = AF_UNIX (path: Buffer, raw bytes, a leading
// NUL for abstract names); 2 = AF_INET (IPv4 address as a host-order u32, port: u16).
bool ParseAddr(napi_env env, napi_value* args, Addr* a, const char** why) {
  int32_t family;
  memset(a, 0, sizeof *a);
  if (!GetInt32(env, args[0], &family)) return (*why = "family must be 0 (vsock) or 1 (unix)"), false;
  if (family == 0) {
    uint32_t cid, port;
    if (!GetUint32(env, args[1], &cid)) return (*why = "cid must be a u32"), false;
    if (!GetUint32(env, args[2], &port)) return (*why = "port must be a u32"), false;
    a->u.vm.svm_family = AF_VSOCK;
    a->u.vm.svm_cid = cid;
    a->u.vm.svm_port = port;
    a->len = sizeof(sockaddr_vm);
    return true;
  }
  if (family == 1) {
    bool is_buffer = false;
    if (napi_is_buffer(env, args[1], &is_buffer) != napi_ok || !is_buffer) return (*why = "path must be a Buffer"), false;
    void* data;
    size_t n;
    if (napi_get_buffer_info(env, args[1], &data, &n) != napi_ok) return (*why = "path must be a Buffer"), false;
    // Filesystem paths need room for the terminating NUL; abstract names (leading NUL) do not.
    const bool abstract = n > 0 && static_cast<const char*>(data)[0] == '\0';
    if (n == 0 || n > sizeof(a->u.un.sun_path) - (abstract ? 0 : 1)) return (*why = "unix path length out of range"), false;
    if (!abstract && memchr(data, '\0', n) != nullptr) return (*why = "unix path contains NUL"), false;
    a->u.un.sun_family = AF_UNIX;
    memcpy(a->u.un.sun_path, data, n);
    a->len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n + (abstract ? 0 : 1));
    return true;
  }
  if (family == 2) {
    uint32_t ip, port;
    if (!GetUint32(env, args[1], &ip)) return (*why = "ipv4 address must be a u32"), false;
    if (!GetUint32(env, args[2], &port) || port > 65535) return (*why = "port must be in 0..65535"), false;
    a->u.in.sin_family = AF_INET;
    a->u.in.sin_addr.s_addr = htonl(ip);
    a->u.in.sin_port = htons(static_cast<uint16_t>(port));
    a->len = sizeof(sockaddr_in);
    return true;
  }
  *why = "family must be 0 (vsock), 1 (unix) or 2 (inet)";
  return false;
}

int FamilyToAf(int32_t family) {
  switch (family) {
    case 0: return AF_VSOCK;
    case 1: return AF_UNIX;
    case 2: return AF_INET;
    default: return -1;
  }
}

// sockaddr -> JS: [cid, port] for vsock, [ipv4, port] for inet, a Buffer (raw sun_path bytes)
// for unix.
napi_value AddrToJs(napi_env env, const sockaddr_storage& ss, socklen_t len) {
  napi_value out;
  if (ss.ss_family == AF_VSOCK || ss.ss_family == AF_INET) {
    uint32_t host, port;
    if (ss.ss_family == AF_VSOCK) {
      const sockaddr_vm* vm = reinterpret_cast<const sockaddr_vm*>(&ss);
      host = vm->svm_cid;
      port = vm->svm_port;
    } else {
      const sockaddr_in* in = reinterpret_cast<const sockaddr_in*>(&ss);
      host = ntohl(in->sin_addr.s_addr);
      port = ntohs(in->sin_port);
    }
    napi_value h, p;
    CHECK_NAPI(env, napi_create_array_with_length(env, 2, &out));
    CHECK_NAPI(env, napi_create_uint32(env, host, &h));
    CHECK_NAPI(env, napi_create_uint32(env, port, &p));
    CHECK_NAPI(env, napi_set_element(env, out, 0, h));
    CHECK_NAPI(env, napi_set_element(env, out, 1, p));
    return out;
  }
  if (ss.ss_family == AF_UNIX) {
    const sockaddr_un* un = reinterpret_cast<const sockaddr_un*>(&ss);
    size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    if (n > sizeof(un->sun_path)) n = sizeof(un->sun_path);
    // Filesystem names come back NUL-terminated; abstract ones are exactly `n` bytes.
    if (n > 0 && un->sun_path[0] != '\0') n = strnlen(un->sun_path, n);
    void* data;
    CHECK_NAPI(env, napi_create_buffer_copy(env, n, un->sun_path, &data, &out));
    return out;
  }
  CHECK_NAPI(env, napi_get_null(env, &out));
  return out;
}

napi_value Int(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

napi_value Undefined(napi_env env) {
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

// socket(family) -> fd: non-blocking and close-on-exec from the start (no fd leaks into children).
napi_value Socket(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr));
  int32_t family;
  if (argc < 1 || !GetInt32(env, args[0], &family) || FamilyToAf(family) < 0) return ThrowType(env, "family must be 0, 1 or 2");
  int fd = socket(FamilyToAf(family), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, errno, "socket");
  return Int(env, fd);
}

bool GetFd(napi_env env, napi_value v, int* fd) {
  int32_t x;
  if (!GetInt32(env, v, &x) || x < 0) return false;
  *fd = x;
  return true;
}

// bind(fd, family, cid|path, port)
napi_value Bind(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr));
  int fd;
  Addr a;
  const char* why = "";
  if (argc < 4 || !GetFd(env, args[0], &fd)) return ThrowType(env, "fd must be a non-negative integer");
  if (!ParseAddr(env, args + 1, &a, &why)) return ThrowType(env, why);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a.u), a.len) != 0) return ThrowErrno(env, errno, "bind");
  return Undefined(env);
}

// listen(fd, backlog)
napi_value Listen(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr));
  int fd;
  int32_t backlog;
  if (argc < 2 || !GetFd(env, args[0], &fd) || !GetInt32(env, args[1], &backlog)) return ThrowType(env, "listen(fd, backlog)");
  if (listen(fd, backlog) != 0) return ThrowErrno(env, errno, "listen");
  return Undefined(env);
}

// connect(fd, family, cid|path, port) -> 0 connected, 1 in progress (wait with pollWritable).
napi_value Connect(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr));
  int fd;
  Addr a;
  const char* why = "";
  if (argc < 4 || !GetFd(env, args[0], &fd)) return ThrowType(env, "fd must be a non-negative integer");
  if (!ParseAddr(env, args + 1, &a, &why)) return ThrowType(env, why);
  int r;
  do {
    r = connect(fd, reinterpret_cast<sockaddr*>(&a.u), a.len);
  } while (r != 0 && errno == EINTR);
  if (r == 0) return Int(env, 0);
  if (errno == EINPROGRESS) return Int(env, 1);
  return ThrowErrno(env, errno, "connect");
}

// SO_ERROR: the outcome of a non-blocking connect (0 = connected).
napi_value SoError(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr));
  int fd;
  if (argc < 1 || !GetFd(env, args[0], &fd)) return ThrowType(env, "fd must be a non-negative integer");
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return ThrowErrno(env, errno, "getsockopt");
  return Int(env, err);
}

// setConnectTimeout(fd, ms): the kernel's own vsock connect timeout defaults to 2 s and applies to
// non-blocking connects too, so it must follow the caller's timeout.
napi_value SetConnectTimeout(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr));
  int fd;
  int32_t ms;
  if (argc < 2 || !GetFd(env, args[0], &fd) || !GetInt32(env, args[1], &ms) || ms < 1) return ThrowType(env, "setConnectTimeout(fd, ms)");
  timeval tv;
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  if (setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof tv) != 0) return ThrowErrno(env, errno, "setsockopt");
  return Undefined(env);
}

napi_value NameOf(napi_env env, napi_callback_info info, bool peer) {
  size_t argc = 1;
  napi_value args[1];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr));
  int fd;
  if (argc < 1 || !GetFd(env, args[0], &fd)) return ThrowType(env, "fd must be a non-negative integer");
  sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len = sizeof ss;
  int r = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) : getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (r != 0) return ThrowErrno(env, errno, peer ? "getpeername" : "getsockname");
  return AddrToJs(env, ss, len);
}

napi_value GetSockName(napi_env env, napi_callback_info info) { return NameOf(env, info, false); }
napi_value GetPeerName(napi_env env, napi_callback_info info) { return NameOf(env, info, true); }

// close(fd). Never retried on EINTR: on Linux the fd is released whatever close() returns.
napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr));
  int fd;
  if (argc < 1 || !GetFd(env, args[0], &fd)) return ThrowType(env, "fd must be a non-negative integer");
  close(fd);
  return Undefined(env);
}

// localCid(): IOCTL_VM_SOCKETS_GET_LOCAL_CID on /dev/vsock.
napi_value LocalCid(napi_env env, napi_callback_info /*info*/) {
  int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, errno, "open /dev/vsock");
  unsigned int cid = 0;
  int r = ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid);
  int err = errno;
  close(fd);
  if (r != 0) return ThrowErrno(env, err, "ioctl IOCTL_VM_SOCKETS_GET_LOCAL_CID");
  napi_value out;
  CHECK_NAPI(env, napi_create_uint32(env, cid, &out));
  return out;
}

// ---- one-shot writability watch on Node's loop (completion of a non-blocking connect) ----

struct Waiter {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  int fd;
};

// fd -> waiter; an fd has at most one. Only touched on the loop thread.
std::unordered_map<int, Waiter*>& Waiters() {
  static thread_local std::unordered_map<int, Waiter*> waiters;
  return waiters;
}

void FreeWaiter(uv_handle_t* handle) {
  Waiter* w = static_cast<Waiter*>(handle->data);
  // env is null when the environment was torn down first (EnvCleanup released the JS parts).
  if (w->env != nullptr) {
    napi_delete_reference(w->env, w->callback);
    napi_async_destroy(w->env, w->context);
  }
  delete w;
}

// Stops watching: removes the fd from libuv's epoll set at once (uv_close does that
// synchronously), so a Pipe handle may adopt the fd right after. Memory goes in FreeWaiter.
void StopWaiter(Waiter* w) {
  Waiters().erase(w->fd);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), FreeWaiter);
}

void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
  Waiter* w = static_cast<Waiter*>(handle->data);
  napi_env env = w->env;
  // Stop first, whatever happens next: the watch is one-shot and the callback may close the fd
  // or hand it to libuv. `w` (callback, context) stays valid until FreeWaiter on a later turn.
  StopWaiter(w);
  napi_handle_scope scope;
  if (env == nullptr || napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb = nullptr, resource, argv[1];
  napi_get_reference_value(env, w->callback, &cb);
  napi_async_context context = w->context;
  // libuv reports POLLERR as a status (UV_EBADF); the caller reads SO_ERROR for the real reason.
  napi_create_int32(env, status, &argv[0]);
  napi_get_global(env, &resource);
  if (cb != nullptr) {
    napi_value result;
    if (napi_make_callback(env, context, resource, cb, 1, argv, &result) == napi_pending_exception) {
      // A throwing callback becomes an uncaught exception, as with any Node callback.
      napi_value error;
      if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
    }
  }
  napi_close_handle_scope(env, scope);
}

// pollWritable(fd, callback(status)): calls back once, when the fd is writable or in error.
napi_value PollWritable(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr));
  int fd;
  napi_valuetype t;
  if (argc < 2 || !GetFd(env, args[0], &fd)) return ThrowType(env, "fd must be a non-negative integer");
  if (napi_typeof(env, args[1], &t) != napi_ok || t != napi_function) return ThrowType(env, "callback must be a function");
  if (Waiters().count(fd) != 0) return ThrowType(env, "fd is already being watched");
  uv_loop_t* loop;
  CHECK_NAPI(env, napi_get_uv_event_loop(env, &loop));
  Waiter* w = new Waiter();
  w->env = env;
  w->fd = fd;
  int r = uv_poll_init(loop, &w->poll, fd);
  if (r != 0) {
    delete w;
    return ThrowErrno(env, -r, "uv_poll_init");
  }
  w->poll.data = w;
  napi_value name;
  napi_create_string_utf8(env, "VsockConnect", NAPI_AUTO_LENGTH, &name);
  napi_create_reference(env, args[1], 1, &w->callback);
  napi_async_init(env, nullptr, name, &w->context);
  r = uv_poll_start(&w->poll, UV_WRITABLE | UV_DISCONNECT, OnPoll);
  if (r != 0) {
    Waiters()[fd] = w;
    StopWaiter(w);
    return ThrowErrno(env, -r, "uv_poll_start");
  }
  Waiters()[fd] = w;
  return Undefined(env);
}

// cancelPoll(fd) -> true if a watch was stopped (its callback will not run).
napi_value CancelPoll(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr));
  int fd;
  if (argc < 1 || !GetFd(env, args[0], &fd)) return ThrowType(env, "fd must be a non-negative integer");
  auto it = Waiters().find(fd);
  bool found = it != Waiters().end();
  if (found) StopWaiter(it->second);
  napi_value out;
  napi_get_boolean(env, found, &out);
  return out;
}

// A worker thread exiting with a connect still pending: stop its watches and release their JS
// references while the environment is still valid; the fds are closed with it.
void EnvCleanup(void* arg) {
  napi_env env = static_cast<napi_env>(arg);
  std::vector<Waiter*> mine;
  for (auto& kv : Waiters()) {
    if (kv.second->env == env) mine.push_back(kv.second);
  }
  for (Waiter* w : mine) {
    napi_delete_reference(env, w->callback);
    napi_async_destroy(env, w->context);
    w->env = nullptr;
    const int fd = w->fd;
    StopWaiter(w);
    close(fd);
  }
}

napi_value Init(napi_env env, napi_value exports) {
  if (napi_add_env_cleanup_hook(env, EnvCleanup, env) != napi_ok) return nullptr;
  const napi_property_descriptor props[] = {
      {"socket", nullptr, Socket, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"bind", nullptr, Bind, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"listen", nullptr, Listen, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"connect", nullptr, Connect, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"soError", nullptr, SoError, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setConnectTimeout", nullptr, SetConnectTimeout, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"getsockname", nullptr, GetSockName, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"getpeername", nullptr, GetPeerName, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"close", nullptr, Close, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"localCid", nullptr, LocalCid, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"pollWritable", nullptr, PollWritable, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"cancelPoll", nullptr, CancelPoll, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return nullptr;
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
