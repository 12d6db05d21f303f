//! ttrpc framing over a unix stream, for a single-threaded server: a 10-byte header
//! (length u32 BE, stream id u32 BE, type u8, flags u8) followed by a protobuf `Request`
//! (to us) or `Response` (from us). The generated request/response types come from
//! `containerd-shim-protos`; only the transport is ours, because the `ttrpc` crate's sync
//! server runs at least seven threads per connection.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

use protobuf::Message;
use ttrpc::{Code, Request, Response, Status};

const HEADER_LEN: usize = 10;
const MAX_MESSAGE: usize = 4 << 20;
pub const TYPE_REQUEST: u8 = 1;
pub const TYPE_RESPONSE: u8 = 2;

/// A request taken off the wire.
#[derive(Debug)]
pub struct Incoming {
    pub stream_id: u32,
    pub request: Request,
}

/// One client connection and the bytes read from it that do not yet form a message.
pub struct Conn {
    pub id: u64,
    pub stream: UnixStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn new(id: u64, stream: UnixStream) -> Conn {
        Conn {
            id,
            stream,
            buf: Vec::new(),
        }
    }

    /// Reads what is available (call when poll says readable). `Ok(None)` means the peer
    /// hung up; otherwise the complete requests received so far.
    pub fn read_requests(&mut self) -> io::Result<Option<Vec<Incoming>>> {
        let mut chunk = [0u8; 16 * 1024];
        let n = match self.stream.read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        self.buf.extend_from_slice(&chunk[..n]);
        let mut out = Vec::new();
        while let Some((stream_id, kind, payload)) = split_frame(&mut self.buf)? {
            if kind != TYPE_REQUEST {
                continue;
            }
            match Request::parse_from_bytes(&payload) {
                Ok(request) => out.push(Incoming { stream_id, request }),
                Err(e) => self.send_error(stream_id, Code::INVALID_ARGUMENT, &e.to_string())?,
            }
        }
        Ok(Some(out))
    }

    pub fn send(&mut self, stream_id: u32, response: &Response) -> io::Result<()> {
        let payload = response
            .write_to_bytes()
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.stream
            .write_all(&frame(stream_id, TYPE_RESPONSE, &payload))
    }

    pub fn send_error(&mut self, stream_id: u32, code: Code, message: &str) -> io::Result<()> {
        self.send(stream_id, &error_response(code, message))
    }
}

pub fn ok_response(payload: Vec<u8>) -> Response {
    let mut r = Response::new();
    r.payload = payload;
    r
}

pub fn error_response(code: Code, message: &str) -> Response {
    let mut status = Status::new();
    status.code = code.into();
    status.message = message.to_string();
    let mut r = Response::new();
    r.status = protobuf::MessageField::some(status);
    r
}

/// Header + payload of one message.
pub fn frame(stream_id: u32, kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&stream_id.to_be_bytes());
    frame.push(kind);
    frame.push(0);
    frame.extend_from_slice(payload);
    frame
}

/// Takes one complete frame off the front of `buf`: (stream id, type, payload).
pub fn split_frame(buf: &mut Vec<u8>) -> io::Result<Option<(u32, u8, Vec<u8>)>> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("ttrpc message of {len} bytes is over the 4 MiB limit"),
        ));
    }
    if buf.len() < HEADER_LEN + len {
        return Ok(None);
    }
    let stream_id = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let kind = buf[8];
    let payload = buf[HEADER_LEN..HEADER_LEN + len].to_vec();
    buf.drain(..HEADER_LEN + len);
    Ok(Some((stream_id, kind, payload)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_only_when_complete() {
        let mut req = Request::new();
        req.service = "containerd.task.v2.Task".into();
        req.method = "State".into();
        let payload = req.write_to_bytes().unwrap();
        let mut wire = (payload.len() as u32).to_be_bytes().to_vec();
        wire.extend_from_slice(&7u32.to_be_bytes());
        wire.extend_from_slice(&[TYPE_REQUEST, 0]);
        wire.extend_from_slice(&payload);
        let mut partial = wire[..wire.len() - 1].to_vec();
        assert!(split_frame(&mut partial).unwrap().is_none());
        let mut whole = wire.clone();
        whole.extend_from_slice(&wire);
        let (id, kind, body) = split_frame(&mut whole).unwrap().unwrap();
        assert_eq!((id, kind), (7, TYPE_REQUEST));
        assert_eq!(Request::parse_from_bytes(&body).unwrap().method, "State");
        assert_eq!(whole.len(), wire.len());
    }

    #[test]
    fn oversized_frame_is_an_error() {
        let mut buf = vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 1, 0];
        assert!(split_frame(&mut buf).is_err());
    }
}
