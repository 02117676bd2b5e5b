// The data config is decoded with the shared strict decoding; users of the data config see its
// error type without a second import.
@_exported import Configuration
