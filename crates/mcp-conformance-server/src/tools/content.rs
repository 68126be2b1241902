//! Tools whose results carry each content type the scenarios check: text, image, audio,
//! an embedded resource, a mix of those, and a tool-level error result.

use rmcp::{
    model::{CallToolResult, ContentBlock, ResourceContents},
    tool, tool_router,
};

use crate::{fixtures, server::ConformanceServer};

#[tool_router(router = content_tools, vis = "pub(super)")]
impl ConformanceServer {
    #[tool(description = "Returns one text content block")]
    fn test_simple_text(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text(fixtures::SIMPLE_TEXT)])
    }

    #[tool(description = "Returns one image content block (a 1x1 red PNG)")]
    fn test_image_content(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::image(fixtures::RED_PIXEL_PNG, "image/png")])
    }

    #[tool(description = "Returns one audio content block (a short silent WAV)")]
    fn test_audio_content(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::audio(fixtures::SILENT_WAV, "audio/wav")])
    }

    #[tool(description = "Returns one embedded text resource")]
    fn test_embedded_resource(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::resource(
            ResourceContents::text(fixtures::EMBEDDED_TEXT, "test://embedded-resource").with_mime_type("text/plain"),
        )])
    }

    #[tool(description = "Returns text, image and embedded resource content together")]
    fn test_multiple_content_types(&self) -> CallToolResult {
        CallToolResult::success(vec![
            ContentBlock::text("Multiple content types test:"),
            ContentBlock::image(fixtures::RED_PIXEL_PNG, "image/png"),
            ContentBlock::resource(
                ResourceContents::text(r#"{"test":"data","value":123}"#, "test://mixed-content-resource")
                    .with_mime_type("application/json"),
            ),
        ])
    }

    #[tool(description = "Always fails with a tool-level error result (isError: true)")]
    fn test_error_handling(&self) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(fixtures::TOOL_ERROR_TEXT)])
    }
}
