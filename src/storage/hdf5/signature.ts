/** The 8 bytes an HDF5 file starts with (no user block; h5wasm never writes one). */
export const HDF5_SIGNATURE = Buffer.from('\x89HDF\r\n\x1a\n', 'latin1');
