/// An encoder fitted on training rows: the table row of every distinct value of a column.
struct FittedEncoder {
    /// Table row of each distinct value id; 0 where the value has no row of its own.
    var rowOfValue: [Int32]
    /// Table rows R, row 0 included.
    var tableRows: Int
    /// Distinct values beyond the first in each shared hash bucket.
    var hashCollisions = 0

    /// Returns the table row for value id `id`, with -1 (missing) mapping to row 0.
    func row(_ id: Int32) -> Int32 {
        id < 0 ? 0 : rowOfValue[Int(id)]
    }

    /// Returns the table row of every value id in `ids`, `[ids]`.
    func rows(_ ids: [Int32]) -> [Int32] {
        rowOfValue.withUnsafeBufferPointer { rowOfValue in
            ids.map { $0 < 0 ? 0 : rowOfValue[Int($0)] }
        }
    }
}

/// Hash encoding: `row = 1 + FNV-1a-64(text) % (buckets − 1)`, row 0 for missing values.
public enum FeatureHashing {
    /// Returns the table row of a non-missing value with FNV-1a hash `hash`.
    public static func row(hash: UInt64, buckets: Int) -> Int32 {
        precondition(buckets >= 2, "hash encoding needs at least 2 buckets, got \(buckets)")
        return Int32(1 + hash % UInt64(buckets - 1))
    }

    /// Returns the table row of the non-missing value `text`.
    public static func row(of text: String, buckets: Int) -> Int32 {
        row(hash: StableHash.fnv1a(text), buckets: buckets)
    }
}

/// Quantile bucketing of numeric values. With training values sorted as x[0] <= ... <= x[n−1]
/// and B buckets, boundary k (k = 1 ..< B) is x[k·n / B] (integer division), duplicates removed.
/// A value v goes to bucket b = number of boundaries <= v, so table row 1 + b; the table has
/// boundaries + 2 rows.
public enum QuantileBuckets {
    /// Returns the deduplicated ascending boundaries for `sortedValues` (ascending).
    public static func boundaries(sortedValues: [Double], buckets: Int) -> [Double] {
        precondition(buckets >= 2, "quantile encoding needs at least 2 buckets, got \(buckets)")
        let n = sortedValues.count
        guard n > 0 else { return [] }
        var result: [Double] = []
        for k in 1..<buckets {
            let value = sortedValues[min(n - 1, k * n / buckets)]
            if result.last != value { result.append(value) }
        }
        return result
    }

    /// Returns the bucket 0 ... boundaries.count of `value`: the number of boundaries <= value.
    public static func bucket(of value: Double, boundaries: [Double]) -> Int {
        var low = 0
        var high = boundaries.count
        while low < high {
            let middle = (low + high) / 2
            if boundaries[middle] <= value { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

enum EncoderFitting {
    /// Vocabulary: values seen in training rows at least `minCount` times get rows 1...V in byte
    /// order of their text; other values map to row 0. `trainCounts` holds the training rows of
    /// each value id.
    static func vocabulary(values: ValueInterner, trainCounts: [Int], minCount: Int) -> FittedEncoder {
        // Comparing 8-byte keys first leaves the byte-by-byte comparison to values that share
        // their first 8 bytes.
        var keyed = (0..<values.count).filter { trainCounts[$0] >= minCount }
            .map { (key: values.sortKey(Int32($0)), id: Int32($0)) }
        keyed.sort { $0.key != $1.key ? $0.key < $1.key : values.precedes($0.id, $1.id) }
        let kept = keyed.map(\.id)

        var rowOfValue = [Int32](repeating: 0, count: values.count)
        for (index, id) in kept.enumerated() { rowOfValue[Int(id)] = Int32(index + 1) }
        return FittedEncoder(rowOfValue: rowOfValue, tableRows: kept.count + 1)
    }

    /// Hash: every value gets a bucket; collisions are counted among the values whose `used`
    /// entry is true.
    static func hash(values: ValueInterner, buckets: Int, used: [Bool]) -> FittedEncoder {
        var rowOfValue = [Int32](repeating: 0, count: values.count)
        for id in 0..<values.count {
            rowOfValue[id] = FeatureHashing.row(hash: values.hash(Int32(id)), buckets: buckets)
        }

        var distinctValues = 0
        var occupiedRows = Set<Int32>()
        for id in 0..<values.count where used[id] {
            distinctValues += 1
            occupiedRows.insert(rowOfValue[id])
        }
        return FittedEncoder(rowOfValue: rowOfValue, tableRows: buckets,
                             hashCollisions: distinctValues - occupiedRows.count)
    }

    /// Quantile: boundaries from the numbers of the training rows (value id `i` counted
    /// `trainCounts[i]` times, so frequent values weigh more), then every distinct value mapped
    /// to 1 + bucket.
    static func quantile(numbers: [Double], trainCounts: [Int], buckets: Int) -> FittedEncoder {
        let used = (0..<numbers.count).filter { trainCounts[$0] > 0 }.sorted { numbers[$0] < numbers[$1] }
        var trainNumbers: [Double] = []
        trainNumbers.reserveCapacity(trainCounts.reduce(0, +))
        for id in used { trainNumbers.append(contentsOf: repeatElement(numbers[id], count: trainCounts[id])) }

        let boundaries = QuantileBuckets.boundaries(sortedValues: trainNumbers, buckets: buckets)
        let rowOfValue = numbers.map { Int32(1 + QuantileBuckets.bucket(of: $0, boundaries: boundaries)) }
        return FittedEncoder(rowOfValue: rowOfValue, tableRows: boundaries.count + 2)
    }
}
