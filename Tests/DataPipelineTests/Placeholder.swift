import XCTest

final class DataPipelinePlaceholderTests: XCTestCase {}
