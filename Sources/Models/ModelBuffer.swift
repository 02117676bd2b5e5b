/// A named state tensor of a model that training changes outside the optimizer, such as the
/// running statistics of a normalization. Checkpoints save each rank's copy beside the
/// parameters, and evaluation uses the mean over ranks. It is never trained.
///
/// `read` returns the current values and `write` replaces them; both use `count` floats.
public struct ModelBuffer {
    public let name: String
    public let count: Int
    public let read: () -> [Float]
    public let write: ([Float]) -> Void

    public init(name: String, count: Int, read: @escaping () -> [Float], write: @escaping ([Float]) -> Void) {
        self.name = name
        self.count = count
        self.read = read
        self.write = write
    }
}

extension RankingModel {
    /// No buffers: the state of most models is their parameters.
    public var buffers: [ModelBuffer] { [] }
}
