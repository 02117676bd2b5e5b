import Foundation

/// The hidden model behind synthetic labels. For an impression of user u and item i in scene s:
///
///     click logit     = logit(clickRate[s]) + affinity[s]·⟨p_u, q_i⟩ + category[s][c_i]
///                       + activity[s][a_u] + age[s][g_u]
///     long_view logit = logit(0.3) + 0.6·⟨p_u, q_i⟩ + duration[s][d_i] ± 0.8 (+ if clicked)
///     like            = clicked and Bernoulli(σ(logit(0.06) + 0.8·⟨p_u, q_i⟩ + 0.5·category[s][c_i])),
///                       else Bernoulli(0.002)
///
/// with latent factors p, q of width 4, and effect tables drawn independently per scene, so the
/// same feature value helps in one scene and hurts in another.
struct SyntheticHiddenModel {
    struct UserAttributes {
        var ageGroup: Int
        var gender: Int
        var activity: Int
        /// -1 where the city is unknown (an empty field).
        var city: Int
    }

    struct ItemAttributes {
        var author: Int
        var category: Int
        var durationTenths: Int
        var durationBucket: Int
        var secondTag: Int
    }

    struct Impression {
        var user: Int
        var item: Int
        var scene: Int
        var click: Bool
        var longView: Bool
        var like: Bool
    }

    static let factorWidth = 4
    static let ageGroups = 7
    static let genders = 3
    static let activities = 4
    static let cities = 50
    static let categories = 20
    static let tags = 50
    /// Upper bounds in tenths of a second of duration buckets 0 ..< 5; longer is bucket 5.
    static let durationBucketBounds = [150, 300, 600, 1_200, 2_400]

    let options: SyntheticDataOptions
    private(set) var userAttributes: [UserAttributes] = []
    private(set) var itemAttributes: [ItemAttributes] = []
    private var userFactors: [Double] = []
    private var itemFactors: [Double] = []
    private var cumulativeSceneShares: [Double] = []
    private var affinityScale: [Double] = []
    private var categoryEffect: [[Double]] = []
    private var activityEffect: [[Double]] = []
    private var ageEffect: [[Double]] = []
    private var durationEffect: [[Double]] = []

    init(options: SyntheticDataOptions, random: inout SplitMix64) {
        self.options = options
        let width = Self.factorWidth

        for _ in 0..<options.users {
            let unknownCity = random.nextUnit() < 0.03
            userAttributes.append(UserAttributes(
                ageGroup: random.nextInt(below: Self.ageGroups), gender: random.nextInt(below: Self.genders),
                activity: random.nextInt(below: Self.activities),
                city: unknownCity ? -1 : random.nextInt(below: Self.cities)))
            for _ in 0..<width { userFactors.append(random.nextGaussian(deviation: 0.6)) }
        }

        let authors = max(1, options.items / 5)
        for _ in 0..<options.items {
            let unit = random.nextUnit()
            let durationTenths = 50 + Int(2_950 * unit * unit)
            let bucket = Self.durationBucketBounds.firstIndex { durationTenths < $0 } ?? Self.durationBucketBounds.count
            itemAttributes.append(ItemAttributes(
                author: random.nextInt(below: authors), category: random.nextInt(below: Self.categories),
                durationTenths: durationTenths, durationBucket: bucket, secondTag: random.nextInt(below: Self.tags)))
            for _ in 0..<width { itemFactors.append(random.nextGaussian(deviation: 0.6)) }
        }

        let totalShare = options.sceneRowShares.reduce(0, +)
        var running = 0.0
        for share in options.sceneRowShares {
            running += share / totalShare
            cumulativeSceneShares.append(running)
        }

        for _ in 0..<options.scenes {
            affinityScale.append(0.5 + random.nextUnit())
            categoryEffect.append((0..<Self.categories).map { _ in random.nextGaussian(deviation: 0.5) })
            activityEffect.append((0..<Self.activities).map { _ in random.nextGaussian(deviation: 0.3) })
            ageEffect.append((0..<Self.ageGroups).map { _ in random.nextGaussian(deviation: 0.3) })
            durationEffect.append((0..<(Self.durationBucketBounds.count + 1)).map { _ in random.nextGaussian(deviation: 0.6) })
        }
    }

    /// Items left out of the item table, so some log rows have no joined item features.
    func isMissingFromItemTable(_ item: Int) -> Bool {
        item % 199 == 198
    }

    /// Draws one impression: a user (skewed toward low ids), an item (more skewed, a popularity
    /// head), a scene by row share, and the three labels from the hidden model.
    func sampleImpression(random: inout SplitMix64) -> Impression {
        let userUnit = random.nextUnit()
        let user = min(options.users - 1, Int(Double(options.users) * userUnit * userUnit.squareRoot()))
        let itemUnit = random.nextUnit()
        let item = min(options.items - 1, Int(Double(options.items) * itemUnit * itemUnit))
        let sceneUnit = random.nextUnit()
        let scene = cumulativeSceneShares.firstIndex { sceneUnit < $0 } ?? (options.scenes - 1)

        let person = userAttributes[user]
        let video = itemAttributes[item]
        var affinity = 0.0
        for k in 0..<Self.factorWidth {
            affinity += userFactors[user * Self.factorWidth + k] * itemFactors[item * Self.factorWidth + k]
        }

        let clickLogit = Self.logit(options.sceneClickRates[scene]) + affinityScale[scene] * affinity
            + categoryEffect[scene][video.category] + activityEffect[scene][person.activity]
            + ageEffect[scene][person.ageGroup]
        let click = random.nextUnit() < Self.sigmoid(clickLogit)

        let longViewLogit = Self.logit(0.3) + 0.6 * affinity + durationEffect[scene][video.durationBucket]
            + (click ? 0.8 : -0.8)
        let longView = random.nextUnit() < Self.sigmoid(longViewLogit)

        let likeProbability = click
            ? Self.sigmoid(Self.logit(0.06) + 0.8 * affinity + 0.5 * categoryEffect[scene][video.category])
            : 0.002
        let like = random.nextUnit() < likeProbability
        return Impression(user: user, item: item, scene: scene, click: click, longView: longView, like: like)
    }

    static func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
    static func logit(_ p: Double) -> Double { log(p / (1 - p)) }
}
