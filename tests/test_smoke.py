from hub.testing import RunningHub, SocketRecorder


async def test_service_publish_reaches_the_users_inbox(hub_server: RunningHub, hub_socket) -> None:
    alice = await hub_socket("alice")
    reply = await hub_server.publish("user:alice", "test.hello", {"n": 1})
    event = (await alice.wait_for("test.hello"))[0]
    assert event["data"] == {"n": 1}
    assert event["id"] == reply["id"]
    assert isinstance(alice, SocketRecorder)
