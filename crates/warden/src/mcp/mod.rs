//! MCP: the JSON-RPC envelope, the two protocol eras, virtual servers and
//! upstream transports.

pub mod front;
pub mod jsonrpc;
pub mod modern;
pub mod names;
pub mod protocol;
pub mod session;
pub mod upstream;
pub mod virtual_server;

#[cfg(test)]
mod tests;
