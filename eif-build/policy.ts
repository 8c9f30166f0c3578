/**
 * KMS key-policy statements that pin an enclave image: an Allow conditioned on
 * `kms:RecipientAttestation:ImageSha384` (PCR0) and `PCR<n>`, plus Denies so that an Allow elsewhere
 * (such as the default root `kms:*` with an IAM policy for the role) cannot bypass the pin: one with
 * a `Null` condition for calls *without* a Recipient, and one per pinned value with
 * `StringNotEqualsIgnoreCase` for calls with *another* image's attestation document. (Conditions in
 * one block are ANDed, so each value needs a Deny of its own to deny when any one differs.)
 * @module
 */
import { fail } from './errors.js'
import type { Measurements } from './measure.js'

/** Every operation that accepts a Recipient. */
export const RECIPIENT_ACTIONS = ['kms:Decrypt', 'kms:DeriveSharedSecret', 'kms:GenerateDataKey', 'kms:GenerateDataKeyPair', 'kms:GenerateRandom']
/** Placeholder used when no role is given: KMS rejects it, so a pasted policy fails closed. */
export const ROLE_PLACEHOLDER = '<enclave-parent-role-arn>'

const ARN = /^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)\/[A-Za-z0-9+=,.@_/-]{1,512}$/

export interface PolicyOptions {
  /** Which PCRs to pin; 0 is expressed as ImageSha384. Default [0]. */
  pcrs?: number[]
  role?: string
}

function conditionKey(pcr: number): string {
  return pcr === 0 ? 'kms:RecipientAttestation:ImageSha384' : `kms:RecipientAttestation:PCR${pcr}`
}

/** Builds `{ Statement: [allow, deny-without-attestation, deny-other-image per pinned value...] }`. */
export function keyPolicyStatements(m: Measurements, opts: PolicyOptions = {}): { Statement: object[] } {
  const pcrs = [...new Set(opts.pcrs ?? [0])].sort((a, b) => a - b)
  if (pcrs.length === 0) fail('ERR_EIF_INPUT', 'no PCR selected')
  if (opts.role !== undefined && !ARN.test(opts.role)) fail('ERR_EIF_INPUT', `not an IAM role or user ARN: ${JSON.stringify(opts.role)}`)
  const principal = { AWS: opts.role ?? ROLE_PLACEHOLDER }
  const values: Record<string, string> = {}
  for (const p of pcrs) {
    const v = p === 0 ? m.pcr0 : p === 1 ? m.pcr1 : p === 2 ? m.pcr2 : p === 8 ? m.pcr8 : fail('ERR_EIF_INPUT', `PCR${p} is not derived from an EIF (choose from 0, 1, 2, 8)`)
    if (v === undefined) fail('ERR_EIF_INPUT', 'PCR8 requested but the image is not signed')
    values[conditionKey(p)] = v
  }
  return {
    Statement: [
      {
        Sid: 'AllowOnlyThisEnclaveImage',
        Effect: 'Allow',
        Principal: principal,
        Action: RECIPIENT_ACTIONS,
        Resource: '*',
        Condition: { StringEqualsIgnoreCase: values },
      },
      {
        Sid: 'DenyCallsWithoutAttestation',
        Effect: 'Deny',
        Principal: principal,
        Action: RECIPIENT_ACTIONS,
        Resource: '*',
        Condition: { Null: { [conditionKey(pcrs[0])]: 'true' } },
      },
      ...Object.entries(values).map(([key, value]) => ({
        Sid: `DenyOtherImages${key.slice('kms:RecipientAttestation:'.length)}`,
        Effect: 'Deny',
        Principal: principal,
        Action: RECIPIENT_ACTIONS,
        Resource: '*',
        Condition: { StringNotEqualsIgnoreCase: { [key]: value } },
      })),
    ],
  }
}
