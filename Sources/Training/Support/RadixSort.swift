/// Sorts `keys[0..<count]` ascending by the `keyBits` bits that start at bit `keyShift`, and
/// moves `values` (when given) with them, keeping keys with equal sort bits in their input order.
/// Bits above the sorted field are ignored.
///
/// A least-significant-digit radix sort with 11-bit digits: `⌈keyBits / 11⌉` passes of
/// O(count + 2048) each. The embedding exchange sorts each batch's unique keys with it, and the
/// AUC sorts scores held in the high 32 bits. The scratch buffers need room for `count` elements
/// (`scratchValues` when `values` is given); on return they hold no useful data.
func radixSort(keys: UnsafeMutablePointer<UInt64>, values: UnsafeMutablePointer<Int32>?, count: Int,
               keyShift: Int = 0, keyBits: Int,
               scratchKeys: UnsafeMutablePointer<UInt64>, scratchValues: UnsafeMutablePointer<Int32>?) {
    precondition(count >= 0, "radixSort count must be non-negative, got \(count)")
    precondition(keyShift >= 0 && keyBits >= 0 && keyShift + keyBits <= 64,
                 "radixSort needs a field inside 64 bits, got shift \(keyShift) and \(keyBits) bits")
    precondition((values == nil) == (scratchValues == nil), "radixSort needs scratch values exactly when it moves values")
    let digitBits = 11
    let bucketCount = 1 << digitBits
    let passes = (keyBits + digitBits - 1) / digitBits
    var (sourceKeys, sourceValues) = (keys, values)
    var (targetKeys, targetValues) = (scratchKeys, scratchValues)

    withUnsafeTemporaryAllocation(of: Int.self, capacity: bucketCount) { starts in
        for pass in 0..<passes {
            let shift = UInt64(keyShift + pass * digitBits)
            // The last pass keeps only the field's remaining bits.
            let bits = min(digitBits, keyBits - pass * digitBits)
            let mask = UInt64((1 << bits) - 1)
            starts.initialize(repeating: 0)
            for i in 0..<count {
                starts[Int((sourceKeys[i] >> shift) & mask)] += 1
            }
            var total = 0
            for bucket in 0..<bucketCount {
                let size = starts[bucket]
                starts[bucket] = total
                total += size
            }
            for i in 0..<count {
                let bucket = Int((sourceKeys[i] >> shift) & mask)
                let target = starts[bucket]
                targetKeys[target] = sourceKeys[i]
                if let sourceValues, let targetValues { targetValues[target] = sourceValues[i] }
                starts[bucket] = target + 1
            }
            swap(&sourceKeys, &targetKeys)
            swap(&sourceValues, &targetValues)
        }
    }

    if sourceKeys != keys {
        keys.update(from: sourceKeys, count: count)
        if let values, let sourceValues { values.update(from: sourceValues, count: count) }
    }
}

/// Returns the number of bits needed to write every value in `0..<limit`, 0 when `limit` ≤ 1.
func bitWidth(below limit: Int) -> Int {
    limit <= 1 ? 0 : Int.bitWidth - (limit - 1).leadingZeroBitCount
}
