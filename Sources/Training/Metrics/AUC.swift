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
    /// - Complexity: O(R), one radix sort.
    public static func compute(scores: [Float], labels: [Float]) -> Double? {
        precondition(scores.count == labels.count,
                     "AUC needs one label per score, got \(scores.count) scores and \(labels.count) labels")

        var keys = [UInt64](repeating: 0, count: scores.count)
        for row in 0..<scores.count {
            keys[row] = RankKey.make(score: scores[row], isPositive: labels[row] > 0.5, scene: 0)
        }
        var scratch = [UInt64](repeating: 0, count: keys.count)
        return keys.withUnsafeMutableBufferPointer { buffer -> Double? in
            scratch.withUnsafeMutableBufferPointer { scratch in
                // The score is in the high 32 bits. Ties may keep any order of scene and label.
                if let keys = buffer.baseAddress, let scratchKeys = scratch.baseAddress {
                    radixSort(keys: keys, values: nil, count: buffer.count, keyShift: 32, keyBits: 32,
                              scratchKeys: scratchKeys, scratchValues: nil)
                }
            }
            var walker = TieGroupWalker(sceneCount: 1)
            walker.walk(UnsafeBufferPointer(buffer))
            return walker.overall.auc
        }
    }
}

/// A 64-bit sort key for one row: the score in the high 32 bits, mapped so that unsigned integer
/// order equals numeric order, then the scene index in bits 31...1 and the label in bit 0.
///
/// Plain `UInt64` keys allow a radix sort without a comparison closure, and rows with equal
/// scores stay adjacent whatever their scene and label, which is all the tie handling needs.
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
/// One walker is reused across many ranges (one per user), so its per-scene state is allocated
/// once and only the scenes touched by a range are reset.
struct TieGroupWalker {
    /// Pair counts of one scene plus the open tie group's counts in that scene.
    private struct SceneState {
        var counter = PairCounter()
        var groupPositives = 0
        var groupNegatives = 0
        var seen = false
    }

    /// Counts over every row of the last walked range.
    private(set) var overall = PairCounter()
    /// Scenes present in the last walked range, in order of first appearance.
    private(set) var touchedScenes: [Int] = []

    /// `[S]`; only the scenes in `touchedScenes` hold counts of the last range.
    private var scenes: [SceneState]
    /// Scenes present in the open tie group.
    private var groupScenes: [Int] = []

    init(sceneCount: Int) {
        scenes = [SceneState](repeating: SceneState(), count: sceneCount)
    }

    /// Pair counts of `scene` over the last walked range.
    func counts(ofScene scene: Int) -> PairCounter {
        scenes[scene].counter
    }

    /// Counts pairs in `keys`, which must be sorted by score, after resetting the counts of the
    /// previous range.
    mutating func walk(_ keys: UnsafeBufferPointer<UInt64>) {
        for scene in touchedScenes {
            scenes[scene] = SceneState()
        }
        touchedScenes.removeAll(keepingCapacity: true)
        overall = PairCounter()
        guard let first = keys.first else { return }

        // Move the lists out of `self` so that appending to them inside the closure neither
        // copies them nor overlaps the exclusive access to `scenes`.
        var overall = PairCounter()
        var touchedScenes: [Int] = []
        var groupScenes: [Int] = []
        swap(&touchedScenes, &self.touchedScenes)
        swap(&groupScenes, &self.groupScenes)
        scenes.withUnsafeMutableBufferPointer { scenes in
            var currentScore = RankKey.scoreBits(first)
            var positivesInGroup = 0
            var negativesInGroup = 0
            for key in keys {
                let score = RankKey.scoreBits(key)
                if score != currentScore {
                    overall.addTieGroup(positives: positivesInGroup, negatives: negativesInGroup)
                    Self.closeGroup(scenes: scenes, groupScenes: &groupScenes)
                    positivesInGroup = 0
                    negativesInGroup = 0
                    currentScore = score
                }

                let scene = RankKey.scene(key)
                if scenes[scene].groupPositives == 0 && scenes[scene].groupNegatives == 0 {
                    groupScenes.append(scene)
                    if !scenes[scene].seen {
                        scenes[scene].seen = true
                        touchedScenes.append(scene)
                    }
                }
                if RankKey.isPositive(key) {
                    positivesInGroup += 1
                    scenes[scene].groupPositives += 1
                } else {
                    negativesInGroup += 1
                    scenes[scene].groupNegatives += 1
                }
            }
            overall.addTieGroup(positives: positivesInGroup, negatives: negativesInGroup)
            Self.closeGroup(scenes: scenes, groupScenes: &groupScenes)
        }
        self.overall = overall
        self.touchedScenes = touchedScenes
        self.groupScenes = groupScenes
    }

    private static func closeGroup(scenes: UnsafeMutableBufferPointer<SceneState>, groupScenes: inout [Int]) {
        for scene in groupScenes {
            scenes[scene].counter.addTieGroup(positives: scenes[scene].groupPositives,
                                              negatives: scenes[scene].groupNegatives)
            scenes[scene].groupPositives = 0
            scenes[scene].groupNegatives = 0
        }
        groupScenes.removeAll(keepingCapacity: true)
    }
}
