// CAKit's public values include crypto types (Certificate, KeyType, SerialNumber …);
// callers import CAKit alone.
@_exported import CACrypto
