//! Peer exchange (SCP2P-WIRE.md §4.2): PEX_OFFER pushes peers, PEX_REQUEST asks for some.

use super::payload::{Ack, cbor_payload, request};
use super::peer_addr::{PeerAddr, decode_peer_list, encode_peer_list};
use crate::cbor::{self, EncResult};
use minicbor::decode::Error as DecodeError;
use minicbor::encode::Write;
use minicbor::{Decode, Decoder, Encode, Encoder};

/// PEX_OFFER (100): peers the sender knows. Also the payload answering PEX_REQUEST.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PexOffer {
    pub peers: Vec<PeerAddr>,
}

/// PEX_REQUEST (101).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PexRequest {
    pub max_peers: u8,
}

cbor_payload!(PexOffer, "PEX_OFFER");
cbor_payload!(PexRequest, "PEX_REQUEST");
request!(PexOffer, PEX_OFFER => PEX_OFFER, Ack);
request!(PexRequest, PEX_REQUEST => PEX_OFFER, PexOffer);

impl<C> Encode<C> for PexOffer {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(1)?.str("peers")?;
        encode_peer_list(e, &self.peers)
    }
}

impl<'b, C> Decode<'b, C> for PexOffer {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let mut peers = None;
        cbor::tmap(d, "PEX_OFFER", &["peers"], |d, _| {
            peers = Some(decode_peer_list(d, "peers")?);
            Ok(())
        })?;
        Ok(PexOffer { peers: peers.ok_or_else(|| cbor::missing("PEX_OFFER", "peers"))? })
    }
}

impl<C> Encode<C> for PexRequest {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(1)?.str("max_peers")?.u8(self.max_peers)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for PexRequest {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let mut max = None;
        cbor::tmap(d, "PEX_REQUEST", &["max_peers"], |d, _| {
            max = Some(cbor::u8(d)?);
            Ok(())
        })?;
        Ok(PexRequest { max_peers: max.ok_or_else(|| cbor::missing("PEX_REQUEST", "max_peers"))? })
    }
}
