//! Fixed payloads the conformance scenarios expect back, byte for byte where they check.

/// A 1×1 red PNG, base64-encoded.
pub const RED_PIXEL_PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

/// Eight samples of 8-bit mono silence at 8 kHz as a WAV file, base64-encoded.
pub const SILENT_WAV: &str = "UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQgAAACAgICAgICAgA==";

/// Text of `test://static-text`.
pub const STATIC_TEXT: &str = "This is the content of the static text resource.";

/// Text of `test_simple_text`.
pub const SIMPLE_TEXT: &str = "This is a simple text response for testing.";

/// Text of the resource embedded by `test_embedded_resource`.
pub const EMBEDDED_TEXT: &str = "This is an embedded resource content.";

/// Text of `test_error_handling`'s error result.
pub const TOOL_ERROR_TEXT: &str = "This tool intentionally returns an error for testing";
