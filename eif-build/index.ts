/**
 * eif-build: Enclave Image Files with nitro-cli's layout and PCRs, built without Docker.
 * @module
 */
export { EifError, EIF_ERROR_CODES, type EifErrorCode } from './errors.js'
export { buildEif, trimCmdline, type BuildOptions, type BuildResult, type RootfsInput } from './build.js'
export { writeEif, type EifSections, type EifWriteResult, type SectionProducer } from './writer.js'
export { describeEif, verifyEif, assertVerified, readEifMeasurements, type EifDescription, type EifSection } from './reader.js'
export { Measurer, extendDigest, pcrOfBytes, PCR_OF_EMPTY, type Measurements } from './measure.js'
export { CpioWriter, parseCpio, LINUXKIT_FIRST_INO, type CpioEntry, type ParsedCpioEntry } from './cpio.js'
export { indexTar, type TarEntry } from './tar.js'
export { directoryRootfs, FsTree, type RootfsEntry } from './rootfs.js'
export { loadDockerArchive, loadOciLayout, type ImageInfo, type LoadedImage } from './image.js'
export { writeBootstrapRamdisk, writeCustomerRamdisk, LINUXKIT_MTIME, type HardlinkMode } from './ramdisk.js'
export { loadSigningMaterial, signPcr0, checkSignatureSection, encodePcrInfo, encodeSignatureSection, pcr8Of } from './signature.js'
export { keyPolicyStatements, RECIPIENT_ACTIONS } from './policy.js'
export { crc32, crc32Combine } from './crc32.js'
export { bufferSource, fileSource, type DataSource } from './source.js'
export { withDockerInitLayer, compareWalkOrder } from './docker-export.js'
export { OffThreadSha384 } from './hash-worker.js'
