from gateway.sse import EventSplitter, event_json, event_parse, is_done, sse_event


def test_events_split_across_network_chunks_and_separators():
    splitter = EventSplitter()
    assert splitter.feed(b'data: {"a"') == []
    assert splitter.feed(b": 1}\n\nevent: x\ndata: {}\r\n\r\ndata: [DO") == [
        b'data: {"a": 1}\n\n',
        b"event: x\ndata: {}\r\n\r\n",
    ]
    assert splitter.feed(b"NE]\n\n") == [b"data: [DONE]\n\n"]
    assert splitter.feed(b"data: tail") == []
    assert splitter.rest() == b"data: tail"


def test_event_parsing():
    raw = sse_event("message_start", {"type": "message_start"})
    assert event_parse(raw).name == "message_start"
    assert event_json(raw) == {"type": "message_start"}
    assert event_json(b"data: [DONE]\n\n") is None
    assert event_json(b": keep-alive\n\n") is None
    assert event_json(b'data: {"broken\n\n') is None
    assert is_done(b"data: [DONE]\n\n")
