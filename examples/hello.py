import asyncio
import msgr

async def main():
    with msgr.Client.attach("client.pyhello") as a, msgr.Client.attach("osd.pyhello") as b:
        conn = a.connect(b.addr, msgr.LOSSLESS)  # does not wait: sends queue behind it
        a.send(conn, 42, b"hello")
        async for ev in b.events():              # waits on msgr_fd() in the loop
            if isinstance(ev, msgr.Accepted):
                print("accepted a connection from", ev.conn.peer)
            elif isinstance(ev, msgr.Message):
                print(f"got type {ev.type}: {ev.data.decode()}")
                break

asyncio.run(main())
