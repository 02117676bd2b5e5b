/// Area under the ROC curve of binary labels against scores.
///
/// The value is the Mann–Whitney statistic: the fraction of (positive, negative) row pairs in
/// which the positive row has the higher score, where a tie counts as half a pair. This equals
/// the rank-sum formula with tied scores given their average rank.
///
/// A label counts as positive when it is greater than 0.5, so 0/1 labels stored as `Float` work
/// unchanged.
public enum AUC {
    /// Computes the AUC of `labels` against `scores`, both `[R]`.
    ///
    /// Returns `nil` when the rows contain no positive or no negative label, because the AUC
    /// is undefined there. Pairs are counted exactly in integers and divided once in `Double`.
    /// A NaN score sorts above `+infinity` and ties only with NaNs of the same bit pattern.
    ///
    /// - Complexity: O(R log R), one sort.
    public static func compute(scores: [Float], labels: [Float]) -> Double? {
        precondition(scores.count == labels.count,
                     "AUC needs one label per score, got \(scores.count) scores and \(labels.count) labels")

        var keys = [UInt64](repeating: 0, count: scores.count)
        for row in 0..<scores.count {
            keys[row] = RankKey.make(score: scores[row], isPositive: labels[row] > 0.5, scene: 0)
        }
        return keys.withUnsafeMutableBufferPointer { buffer -> Double? in
            buffer.sort()
            var walker = TieGroupWalker(sceneCount: 1)
            walker.walk(UnsafeBufferPointer(buffer))
            return walker.overall.auc
        }
    }
}

/// A 64-bit sort key for one row: the score in the high 32 bits, mapped so that unsigned integer
/// order equals numeric order, then the scene index in bits 31...1 and the label in bit 0.
///
/// Sorting plain `UInt64` values is several times faster than sorting row indices with a closure,
/// and rows with equal scores stay adjacent whatever their scene and label, which is all the
/// tie handling needs.
enum RankKey {
    /// Largest scene index that fits in the key.
    static let maxScene = Int(Int32.max)

    @inline(__always)
    static func make(score: Float, isPositive: Bool, scene: Int) -> UInt64 {
        UInt64(orderedBits(score)) << 32 | UInt64(truncatingIfNeeded: scene) << 1 | (isPositive ? 1 : 0)
    }

    /// Maps a float to a `UInt32` with the same order: negative values have all bits flipped and
    /// non-negative values get the sign bit set. Adding zero first turns -0 into +0 so that the
    /// two zeros tie.
    @inline(__always)
    static func orderedBits(_ score: Float) -> UInt32 {
        let bits = (score + 0).bitPattern
        return bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
    }

    @inline(__always)
    static func scoreBits(_ key: UInt64) -> UInt64 { key >> 32 }

    @inline(__always)
    static func scene(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key >> 1) & 0x7FFF_FFFF) }

    @inline(__always)
    static func isPositive(_ key: UInt64) -> Bool { key & 1 != 0 }
}

/// Exact pair counts of one set of rows, fed one tie group at a time in ascending score order.
struct PairCounter: Sendable {
    var positives = 0
    var negatives = 0
    /// Twice the number of correctly ordered (positive, negative) pairs, so that a tied pair
    /// adds exactly 1 and the count stays an integer.
    var twiceOrderedPairs = 0

    /// Adds a group of rows that share one score, higher than every score added before.
    /// Each of its positives beats every earlier negative and ties with the group's negatives.
    @inline(__always)
    mutating func addTieGroup(positives groupPositives: Int, negatives groupNegatives: Int) {
        twiceOrderedPairs += 2 * groupPositives * negatives + groupPositives * groupNegatives
        positives += groupPositives
        negatives += groupNegatives
    }

    var rows: Int { positives + negatives }

    /// The AUC, or `nil` when one class is absent.
    var auc: Double? {
        guard positives > 0, negatives > 0 else { return nil }
        return Double(twiceOrderedPairs) / (2 * Double(positives) * Double(negatives))
    }
}

/// Walks keys sorted by `RankKey` and counts pairs for all rows together and for each scene.
///
/// One walker is reused across many ranges (one per user), so its per-scene arrays are sized
/// once and only the scenes touched by a range are reset.
struct TieGroupWalker {
    /// Counts over every row of the last walked range.
    private(set) var overall = PairCounter()
    /// Counts per scene, `[S]`; only the scenes in `touchedScenes` are valid.
    private(set) var perScene: [PairCounter]
    /// Scenes present in the last walked range, in order of first appearance.
    private(set) var touchedScenes: [Int] = []

    private var groupPositives: [Int]
    private var groupNegatives: [Int]
    private var groupScenes: [Int] = []
    private var sceneSeen: [Bool]

    init(sceneCount: Int) {
        perScene = [PairCounter](repeating: PairCounter(), count: sceneCount)
        groupPositives = [Int](repeating: 0, count: sceneCount)
        groupNegatives = [Int](repeating: 0, count: sceneCount)
        sceneSeen = [Bool](repeating: false, count: sceneCount)
    }

    /// Counts pairs in `keys`, which must be sorted ascending; forgets the previous range first.
    mutating func walk(_ keys: UnsafeBufferPointer<UInt64>) {
        for scene in touchedScenes {
            perScene[scene] = PairCounter()
            sceneSeen[scene] = false
        }
        touchedScenes.removeAll(keepingCapacity: true)
        overall = PairCounter()
        guard let first = keys.first else { return }

        var currentScore = RankKey.scoreBits(first)
        var positivesInGroup = 0
        var negativesInGroup = 0
        for key in keys {
            let score = RankKey.scoreBits(key)
            if score != currentScore {
                overall.addTieGroup(positives: positivesInGroup, negatives: negativesInGroup)
                flushSceneGroups()
                positivesInGroup = 0
                negativesInGroup = 0
                currentScore = score
            }

            let scene = RankKey.scene(key)
            if groupPositives[scene] == 0 && groupNegatives[scene] == 0 {
                groupScenes.append(scene)
                if !sceneSeen[scene] {
                    sceneSeen[scene] = true
                    touchedScenes.append(scene)
                }
            }
            if RankKey.isPositive(key) {
                positivesInGroup += 1
                groupPositives[scene] += 1
            } else {
                negativesInGroup += 1
                groupNegatives[scene] += 1
            }
        }
        overall.addTieGroup(positives: positivesInGroup, negatives: negativesInGroup)
        flushSceneGroups()
    }

    private mutating func flushSceneGroups() {
        for scene in groupScenes {
            perScene[scene].addTieGroup(positives: groupPositives[scene], negatives: groupNegatives[scene])
            groupPositives[scene] = 0
            groupNegatives[scene] = 0
        }
        groupScenes.removeAll(keepingCapacity: true)
    }
}
