import XCTest

final class ModelsPlaceholderTests: XCTestCase {}
