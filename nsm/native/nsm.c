/*
 * nitro-recipient NSM addon: the one ioctl of /dev/nsm, run on the libuv thread pool.
 *
 *   request(fd: number, req: Buffer, res: Buffer): Promise<number>
 *
 * Issues NSM_IOCTL_RAW (_IOWR(0x0A, 0, struct nsm_raw) = 0xC0200A00) with the request and
 * response buffers, and resolves with the response length the driver wrote back (the caller
 * decodes only that many bytes). Rejects with an Error carrying `errno` (a positive number)
 * and `syscall: "ioctl"`. Opening and closing the device is done in JavaScript; this file only
 * does what Node cannot: the ioctl. Bounds (request <= 4096, response buffer <= 12288) are
 * checked here as well as in JavaScript, so the addon cannot be misused into larger transfers.
 *
 * Layout and number: linux include/uapi/linux/nsm.h (two {__u64 addr, __u64 len} pairs,
 * 32 bytes, identical on every ABI).
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

struct nsm_iovec {
  uint64_t addr;
  uint64_t len;
};

struct nsm_raw {
  struct nsm_iovec request;
  struct nsm_iovec response;
};

#define NSM_MAGIC 0x0A
#define NSM_IOCTL_RAW _IOWR(NSM_MAGIC, 0x0, struct nsm_raw)
#define NSM_REQUEST_MAX_SIZE 0x1000
#define NSM_RESPONSE_MAX_SIZE 0x3000

_Static_assert(sizeof(struct nsm_raw) == 32, "struct nsm_raw must be 32 bytes");
_Static_assert(NSM_IOCTL_RAW == 0xC0200A00u, "NSM_IOCTL_RAW must be 0xC0200A00");

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref req_ref;
  napi_ref res_ref;
  int fd;
  void *req;
  size_t req_len;
  void *res;
  size_t res_cap;
  int err;         /* errno of a failed ioctl, 0 on success */
  uint64_t out_len;
} job_t;

static void execute(napi_env env, void *data) {
  (void)env;
  job_t *job = (job_t *)data;
  struct nsm_raw msg;
  memset(&msg, 0, sizeof msg);
  msg.request.addr = (uint64_t)(uintptr_t)job->req;
  msg.request.len = job->req_len;
  msg.response.addr = (uint64_t)(uintptr_t)job->res;
  msg.response.len = job->res_cap;
  int rc;
  do {
    rc = ioctl(job->fd, NSM_IOCTL_RAW, &msg);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    job->err = errno;
  } else if (msg.response.len > job->res_cap) {
    /* A driver must never claim more than the buffer; refuse rather than read past it. */
    job->err = EOVERFLOW;
  } else {
    job->out_len = msg.response.len;
  }
}

static void complete(napi_env env, napi_status status, void *data) {
  job_t *job = (job_t *)data;
  napi_value result;
  if (status != napi_ok && job->err == 0) job->err = ECANCELED;
  if (job->err == 0) {
    napi_create_double(env, (double)job->out_len, &result);
    napi_resolve_deferred(env, job->deferred, result);
  } else {
    napi_value msg, code_v, syscall_v;
    napi_create_string_utf8(env, strerror(job->err), NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &result);
    napi_create_int32(env, job->err, &code_v);
    napi_set_named_property(env, result, "errno", code_v);
    napi_create_string_utf8(env, "ioctl", NAPI_AUTO_LENGTH, &syscall_v);
    napi_set_named_property(env, result, "syscall", syscall_v);
    napi_reject_deferred(env, job->deferred, result);
  }
  napi_delete_reference(env, job->req_ref);
  napi_delete_reference(env, job->res_ref);
  napi_delete_async_work(env, job->work);
  free(job);
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static napi_value throw_range(napi_env env, const char *msg) {
  napi_throw_range_error(env, NULL, msg);
  return NULL;
}

static napi_value request(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3) return throw_type(env, "request(fd, req, res)");
  int32_t fd;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) return throw_type(env, "fd must be a non-negative integer");
  bool is_buf = false;
  void *req = NULL, *res = NULL;
  size_t req_len = 0, res_cap = 0;
  if (napi_is_buffer(env, argv[1], &is_buf) != napi_ok || !is_buf) return throw_type(env, "req must be a Buffer");
  if (napi_is_buffer(env, argv[2], &is_buf) != napi_ok || !is_buf) return throw_type(env, "res must be a Buffer");
  napi_get_buffer_info(env, argv[1], &req, &req_len);
  napi_get_buffer_info(env, argv[2], &res, &res_cap);
  if (req_len == 0 || req_len > NSM_REQUEST_MAX_SIZE) return throw_range(env, "request must be 1..4096 bytes");
  if (res_cap == 0 || res_cap > NSM_RESPONSE_MAX_SIZE) return throw_range(env, "response buffer must be 1..12288 bytes");

  job_t *job = (job_t *)calloc(1, sizeof(job_t));
  if (job == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  job->fd = fd;
  job->req = req;
  job->req_len = req_len;
  job->res = res;
  job->res_cap = res_cap;
  napi_value promise, name;
  /* References keep both buffers alive (and in place) while the worker thread uses them. */
  if (napi_create_reference(env, argv[1], 1, &job->req_ref) != napi_ok ||
      napi_create_reference(env, argv[2], 1, &job->res_ref) != napi_ok ||
      napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "nsm.ioctl", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, execute, complete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    napi_throw_error(env, NULL, "cannot queue the NSM request");
    return NULL; /* the few bytes of a half-built job leak; this path is unreachable in practice */
  }
  return promise;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn, num;
  napi_create_function(env, "request", NAPI_AUTO_LENGTH, request, NULL, &fn);
  napi_set_named_property(env, exports, "request", fn);
  napi_create_uint32(env, (uint32_t)NSM_IOCTL_RAW, &num);
  napi_set_named_property(env, exports, "ioctlNumber", num);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
