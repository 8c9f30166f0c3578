// @peculiar/x509 relies on the Reflect metadata API being installed before it loads.
import 'reflect-metadata'
