// Copies and sums of single embedding rows. A row is often 8 floats, which one SIMD8 load
// moves, where `update(from:count:)` calls memmove for each row.

/// Writes `count` floats of `source` to `destination`.
@inline(__always)
func copyRow(_ source: UnsafePointer<Float>, to destination: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        UnsafeMutableRawPointer(destination + i)
            .storeBytes(of: UnsafeRawPointer(source + i).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
        i += 8
    }
    while i < count {
        destination[i] = source[i]
        i += 1
    }
}

/// Adds `count` floats of `source` to `destination`, element by element, so the sums do not
/// depend on the vector width.
@inline(__always)
func addRow(_ source: UnsafePointer<Float>, to destination: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        let sum = UnsafeRawPointer(destination + i).loadUnaligned(as: SIMD8<Float>.self)
            + UnsafeRawPointer(source + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(destination + i).storeBytes(of: sum, as: SIMD8<Float>.self)
        i += 8
    }
    while i < count {
        destination[i] += source[i]
        i += 1
    }
}
