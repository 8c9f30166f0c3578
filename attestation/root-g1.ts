/**
 * The AWS Nitro Enclaves Root-G1 certificate, embedded so the package verifies documents with no
 * network and no files. Its SHA-256 is checked when this module loads, so a corrupted copy fails
 * loudly instead of silently trusting another key.
 *
 * Source: AWS_NitroEnclaves_Root-G1.zip (aws/aws-nitro-enclaves-nsm-api docs/attestation_process.md
 * §2.1), byte-identical to evervault/attestation-doc-validation src/nitro.pem and to cabundle[0] of
 * every real document. Subject CN=aws.nitro-enclaves, OU=AWS, O=Amazon, C=US; valid
 * 2019-10-28T13:28:05Z .. 2049-10-28T14:28:05Z; P-384.
 * @module
 */
import { createHash } from 'node:crypto'
import { pemToDer } from './pem.js'

/** The Root-G1 certificate in PEM form. */
export const AWS_NITRO_ROOT_G1_PEM = `-----BEGIN CERTIFICATE-----
MIICETCCAZagAwIBAgIRAPkxdWgbkK/hHUbMtOTn+FYwCgYIKoZIzj0EAwMwSTEL
MAkGA1UEBhMCVVMxDzANBgNVBAoMBkFtYXpvbjEMMAoGA1UECwwDQVdTMRswGQYD
VQQDDBJhd3Mubml0cm8tZW5jbGF2ZXMwHhcNMTkxMDI4MTMyODA1WhcNNDkxMDI4
MTQyODA1WjBJMQswCQYDVQQGEwJVUzEPMA0GA1UECgwGQW1hem9uMQwwCgYDVQQL
DANBV1MxGzAZBgNVBAMMEmF3cy5uaXRyby1lbmNsYXZlczB2MBAGByqGSM49AgEG
BSuBBAAiA2IABPwCVOumCMHzaHDimtqQvkY4MpJzbolL//Zy2YlES1BR5TSksfbb
48C8WBoyt7F2Bw7eEtaaP+ohG2bnUs990d0JX28TcPQXCEPZ3BABIeTPYwEoCWZE
h8l5YoQwTcU/9KNCMEAwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUkCW1DdkF
R+eWw5b6cp3PmanfS5YwDgYDVR0PAQH/BAQDAgGGMAoGCCqGSM49BAMDA2kAMGYC
MQCjfy+Rocm9Xue4YnwWmNJVA44fA0P5W2OpYow9OYCVRaEevL8uO1XYru5xtMPW
rfMCMQCi85sWBbJwKKXdS6BptQFuZbT73o/gBh1qUxl/nNr12UO8Yfwr6wPLb+6N
IwLz3/Y=
-----END CERTIFICATE-----
`

/**
 * SHA-256 of Root-G1's DER encoding (not the SHA-256 of AWS's ZIP download, `8cf60e2b…`, which
 * AWS's documentation also prints).
 */
export const AWS_NITRO_ROOT_G1_SHA256 = '641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b'

/** Root-G1 in DER form (a fresh copy on each call, so callers cannot alter the pinned bytes). */
export function awsNitroRootG1Der(): Uint8Array {
  return ROOT_DER.slice()
}

const ROOT_DER = pemToDer(AWS_NITRO_ROOT_G1_PEM)[0]
if (createHash('sha256').update(ROOT_DER).digest('hex') !== AWS_NITRO_ROOT_G1_SHA256) {
  // Cannot happen unless this file was altered: refuse to run rather than trust another key.
  throw new Error('attestation/root-g1: embedded AWS Nitro Root-G1 does not match its SHA-256 pin')
}
