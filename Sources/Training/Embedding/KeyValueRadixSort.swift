/// Sorts `keys[0..<count]` ascending by their low `keyBits` bits and moves `values` with them,
/// keeping equal keys in their input order. Bits above `keyBits` must be zero. (`RadixSort` in
/// Metrics sorts keys alone, by their high 32 bits.)
///
/// A least-significant-digit radix sort with 11-bit digits: `⌈keyBits / 11⌉` passes of
/// O(count + 2048) each, where a comparison sort of the unique keys of a batch cost
/// O(count·log count) and most of the exchange's sorting time. The scratch buffers need room
/// for `count` elements; on return they hold no useful data.
func radixSort(keys: UnsafeMutablePointer<UInt64>, values: UnsafeMutablePointer<Int32>, count: Int, keyBits: Int,
               scratchKeys: UnsafeMutablePointer<UInt64>, scratchValues: UnsafeMutablePointer<Int32>) {
    precondition(count >= 0, "radixSort count must be non-negative, got \(count)")
    precondition((0...64).contains(keyBits), "radixSort keyBits must be in 0...64, got \(keyBits)")
    let digitBits = 11
    let bucketCount = 1 << digitBits
    let passes = (keyBits + digitBits - 1) / digitBits
    var (sourceKeys, sourceValues) = (keys, values)
    var (targetKeys, targetValues) = (scratchKeys, scratchValues)

    withUnsafeTemporaryAllocation(of: Int.self, capacity: bucketCount) { starts in
        for pass in 0..<passes {
            let shift = UInt64(pass * digitBits)
            let mask = UInt64(bucketCount - 1)
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
                targetValues[target] = sourceValues[i]
                starts[bucket] = target + 1
            }
            swap(&sourceKeys, &targetKeys)
            swap(&sourceValues, &targetValues)
        }
    }

    if sourceKeys != keys {
        keys.update(from: sourceKeys, count: count)
        values.update(from: sourceValues, count: count)
    }
}

/// Returns the number of bits needed to write every value in `0..<limit`, 0 when `limit` ≤ 1.
func bitWidth(below limit: Int) -> Int {
    limit <= 1 ? 0 : Int.bitWidth - (limit - 1).leadingZeroBitCount
}
