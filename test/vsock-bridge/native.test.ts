// The addon's own argument checks (vsock-bridge/native/vsock.cc), below the validated TypeScript
// API: integers in range only, never converted. napi_get_value_int32 turns NaN and Infinity into 0
// and 2**32 + n into n, so close(NaN) used to close stdin and close(2**32 + fd) another fd.
import { closeSync, fstatSync, openSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { FAMILY_UNIX, requireBinding } from '../../vsock-bridge/native.js'

describe('vsock addon arguments', () => {
  it('fds are integers in range: NaN, Infinity, 2**32 + fd and fractions close nothing', () => {
    const b = requireBinding('test')
    const fd = openSync('/dev/null', 'r')
    try {
      for (const bad of [NaN, Infinity, -Infinity, 2 ** 32 + fd, 2 ** 32, fd + 0.5, -1]) {
        expect(() => b.close(bad)).toThrow(TypeError)
        expect(() => b.soError(bad)).toThrow(TypeError)
        expect(() => b.cancelPoll(bad)).toThrow(TypeError)
      }
      expect(fstatSync(fd).isCharacterDevice()).toBe(true) // still open
      expect(() => fstatSync(0)).not.toThrow() // stdin too
    } finally {
      closeSync(fd)
    }
  })

  it('family, backlog and timeout are never wrapped into range', () => {
    const b = requireBinding('test')
    // 2**32 + 1 would have been family 1 (unix), NaN family 0 (vsock).
    for (const bad of [2 ** 32 + 1, NaN, 1.5]) expect(() => b.socket(bad)).toThrow(TypeError)
    const s = b.socket(FAMILY_UNIX)
    try {
      expect(() => b.listen(s, 2 ** 32 + 1)).toThrow(TypeError)
      // Wrapped, 2**32 + 1000 would reach setsockopt as 1000 ms (and fail there with an errno).
      expect(() => b.setConnectTimeout(s, 2 ** 32 + 1000)).toThrow(TypeError)
      expect(() => b.setConnectTimeout(s, NaN)).toThrow(TypeError)
    } finally {
      b.close(s)
    }
  })
})
