// @peculiar/x509 relies on the Reflect metadata API being installed before it loads.
import 'reflect-metadata'
// The AWS SDK's warning that its 2027 releases need Node 22 is noise in test output; its own
// switch turns off just that warning (the CLI's launcher sets it too).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
