import XCTest

final class CommunicationPlaceholderTests: XCTestCase {}
