//! Sorting transport errors into the core's [`TransportFailure`] classes.

use d1_export_core::TransportFailure;
use std::io;

/// The class of an I/O error.
pub fn classify_io(kind: io::ErrorKind) -> TransportFailure {
    use io::ErrorKind as K;
    match kind {
        K::ConnectionRefused | K::NotConnected | K::AddrNotAvailable | K::AddrInUse => {
            TransportFailure::Connect
        }
        K::HostUnreachable | K::NetworkUnreachable | K::NetworkDown => TransportFailure::Connect,
        K::TimedOut | K::WouldBlock => TransportFailure::Timeout,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            TransportFailure::Reset
        }
        _ => TransportFailure::Other,
    }
}

/// The class of the first I/O error in an error's source chain, if there is one.
pub fn classify_chain(error: &(dyn std::error::Error + 'static)) -> Option<TransportFailure> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return Some(classify_io(io.kind()));
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(
            classify_io(io::ErrorKind::ConnectionRefused),
            TransportFailure::Connect
        );
        assert_eq!(
            classify_io(io::ErrorKind::TimedOut),
            TransportFailure::Timeout
        );
        assert_eq!(
            classify_io(io::ErrorKind::UnexpectedEof),
            TransportFailure::Reset
        );
        assert_eq!(classify_io(io::ErrorKind::Other), TransportFailure::Other);
        let e = io::Error::new(io::ErrorKind::ConnectionReset, "x");
        assert_eq!(classify_chain(&e), Some(TransportFailure::Reset));
    }
}
