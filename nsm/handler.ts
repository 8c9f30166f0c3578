/**
 * The server side of the NSM protocol: one encoded request in, one encoded response out, for
 * any {@link Attester} (the simulator, or a real NSM re-served). Every failure becomes the NSM's
 * own answer `{"Error": name}`: a malformed request is InvalidOperation (as QEMU's virtio-nsm
 * answers), an oversized one InputTooLarge, and anything unexpected InternalError, so no
 * exception detail crosses the wire.
 * @module
 */
import { NSM_REQUEST_MAX_SIZE, NSM_RESPONSE_MAX_SIZE, type Attester } from './attester.js'
import { decodeRequest, type NsmRequest } from './codec/request.js'
import { encodeResponse, type NsmResponse } from './codec/response.js'
import { NsmCodeError } from './errors.js'

async function dispatch(attester: Attester, req: NsmRequest): Promise<NsmResponse> {
  switch (req.type) {
    case 'DescribeNSM':
      return { type: 'DescribeNSM', ...(await attester.describeNsm()) }
    case 'GetRandom':
      return { type: 'GetRandom', random: await attester.getRandom() }
    case 'DescribePCR': {
      const d = await attester.describePcr(req.index)
      return { type: 'DescribePCR', lock: d.locked, data: d.data }
    }
    case 'ExtendPCR':
      return { type: 'ExtendPCR', data: await attester.extendPcr(req.index, req.data) }
    case 'LockPCR':
      await attester.lockPcr(req.index)
      return { type: 'LockPCR' }
    case 'LockPCRs':
      await attester.lockPcrs(req.range)
      return { type: 'LockPCRs' }
    case 'Attestation':
      return { type: 'Attestation', document: await attester.attest({ userData: req.userData, nonce: req.nonce, publicKey: req.publicKey }) }
  }
}

/**
 * Answers one request. Never throws for any input; `onUnexpected` sees errors that are not NSM
 * error codes (they are answered as InternalError).
 */
export async function handleNsmRequest(attester: Attester, request: Uint8Array, onUnexpected: (e: unknown) => void = () => {}): Promise<Uint8Array> {
  let res: NsmResponse
  try {
    if (request.length > NSM_REQUEST_MAX_SIZE) {
      res = { type: 'Error', error: 'InputTooLarge' }
    } else {
      res = await dispatch(attester, decodeRequest(request))
    }
  } catch (e) {
    if (e instanceof NsmCodeError) res = { type: 'Error', error: e.nsmCode }
    else {
      onUnexpected(e)
      res = { type: 'Error', error: 'InternalError' }
    }
  }
  let out: Uint8Array
  try {
    out = encodeResponse(res)
  } catch (e) {
    // An Attester answered something the codec cannot encode (e.g. a non-integer PCR index):
    // the server's promise chain must not reject, so this is InternalError like any other surprise.
    onUnexpected(e)
    return encodeResponse({ type: 'Error', error: 'InternalError' })
  }
  // The device truncates at its buffer; a server says so instead.
  return out.length > NSM_RESPONSE_MAX_SIZE ? encodeResponse({ type: 'Error', error: 'BufferTooSmall' }) : out
}
