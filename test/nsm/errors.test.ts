import { describe, expect, test } from 'vitest'
import { NitroError } from '../../common/errors.js'
import { NSM_ERROR_CODES, NSM_ERROR_NAMES, NsmCodeError, NsmError, isNsmErrorName, nsmErrorFromName } from '../../nsm/errors.js'

describe('NSM error names -> typed errors', () => {
  test('each ErrorCode name (but Success) maps to its own class, code ERR_NSM_<SNAKE_NAME>', () => {
    const seen = new Set<string>()
    for (const name of NSM_ERROR_NAMES.filter((n) => n !== 'Success')) {
      const e = nsmErrorFromName(name)
      expect(e).toBeInstanceOf(NsmCodeError)
      expect(e).toBeInstanceOf(NsmError)
      expect(e).toBeInstanceOf(NitroError)
      const snake = name.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()
      expect(e.code).toBe(`ERR_NSM_${snake}`)
      expect((e as NsmCodeError).nsmCode).toBe(name)
      expect(e.name).toBe(`Nsm${name === 'InternalError' ? 'Internal' : name}Error`)
      expect(NSM_ERROR_CODES).toContain(e.code)
      seen.add(e.constructor.name)
    }
    expect(seen.size).toBe(8)
  })

  test('Error("Success") is a protocol error, never something that looks like success', () => {
    expect(nsmErrorFromName('Success')).toMatchObject({ code: 'ERR_NSM_PROTOCOL' })
  })

  test('isNsmErrorName accepts exactly the wire names', () => {
    for (const n of NSM_ERROR_NAMES) expect(isNsmErrorName(n)).toBe(true)
    for (const n of ['invalidindex', 'Error', '', 3, null, 'InvalidIndex ']) expect(isNsmErrorName(n)).toBe(false)
  })
})
