//! The WebSocket server's message decoder: arbitrary bytes as frames through tungstenite
//! with the server's limits, each text message through `ws::decode` and each binary message
//! (and the bytes themselves) through the protobuf decoder; a request decodes, anything else
//! gets a `malformed_message` error, and nothing panics.
#![no_main]

use std::io::{Cursor, Read, Write};

use libfuzzer_sys::fuzz_target;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};
use wirebench_servers::ws;

/// Bytes from the fuzzer in, the server's writes (pongs, closes) to nowhere.
struct Wire(Cursor<Vec<u8>>);

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    // The text itself, as one message.
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
    check_binary(data);
    // The bytes as client frames.
    let wire = Wire(Cursor::new(data.to_vec()));
    let mut socket = WebSocket::from_raw_socket(wire, Role::Server, Some(ws::ws_config(64 * 1024)));
    while let Ok(message) = socket.read() {
        match message {
            Message::Text(text) => check(&text),
            Message::Binary(bytes) => check_binary(&bytes),
            _ => {}
        }
    }
});

fn check(text: &str) {
    if let Err(answer) = ws::decode(text) {
        assert!(
            matches!(&*answer, ws::ServerMessage::Error { code, .. } if code == "malformed_message"),
            "{answer:?}"
        );
    }
}

fn check_binary(bytes: &[u8]) {
    if let Err(answer) = ws::protobuf::decode_binary(bytes) {
        assert!(
            matches!(&*answer, ws::ServerMessage::Error { code, .. } if code == "malformed_message"),
            "{answer:?}"
        );
    }
}
