/// Returns the given column ranges of `x` side by side: `x` `[B, N]` and ranges of widths
/// N₁, N₂, … give `[B, N₁ + N₂ + …]`. Backward adds each range's gradient into its own columns
/// of x's gradient.
///
/// This is `concat(ranges.map { split(x, …)[…] })` without building a variable per piece, for
/// picking a few features' embeddings out of the concatenated `[B, F·D]`.
public func selectColumns(_ x: Variable, ranges: [Range<Int>]) -> Variable {
    precondition(x.value.rank == 2, "selectColumns needs x [B, N], got \(x.shape)")
    let rows = x.shape[0]
    let inputWidth = x.shape[1]
    for range in ranges {
        precondition(range.lowerBound >= 0 && range.upperBound <= inputWidth,
                     "selectColumns range \(range) is outside the \(inputWidth) columns of \(x.shape)")
    }
    let offsets = ranges.reduce(into: [0]) { $0.append($0.last! + $1.count) }
    let outputWidth = offsets.last!

    let value = x.value.scalars.withUnsafeBufferPointer { input in
        Tensor(shape: [rows, outputWidth]) { output in
            for row in 0..<rows {
                for (index, range) in ranges.enumerated() {
                    copyElements(input.baseAddress! + row * inputWidth + range.lowerBound,
                                 into: output.baseAddress! + row * outputWidth + offsets[index], count: range.count)
                }
            }
        }
    }
    return x.graph.record(value, inputs: [x]) { gradient in
        gradient.scalars.withUnsafeBufferPointer { dy in
            x.withGradientBuffer { dx in
                for row in 0..<rows {
                    for (index, range) in ranges.enumerated() {
                        let source = dy.baseAddress! + row * outputWidth + offsets[index]
                        let destination = dx.baseAddress! + row * inputWidth + range.lowerBound
                        addElements(source, into: destination, count: range.count)
                    }
                }
            }
        }
    }
}
