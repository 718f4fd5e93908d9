"""A real MLLP receiver on loopback for the HL7 delivery tests: python-hl7's asyncio MLLP server on its
own thread, answering each message as its `mode` says (AA, AE, AR, garbage, another message's ACK,
silence, or closing without an answer) and keeping what it received."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import hl7
import hl7.mllp

from tests.services import free_port


class Listener:
    """An MLLP receiver: answers each message as `mode` says and keeps what it received."""

    def __init__(self) -> None:
        self.port = free_port()
        self.mode = "AA"
        self.received: list[hl7.Message] = []
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._started.wait(5), "the MLLP listener did not start"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            hl7.mllp.start_hl7_server(self._serve, "127.0.0.1", self.port, encoding="utf-8"))
        self._started.set()
        self.loop.run_forever()

    async def _serve(self, reader: Any, writer: Any) -> None:
        try:
            message = await reader.readmessage()
            self.received.append(message)
            if self.mode in {"AA", "AE", "AR"}:
                writer.writemessage(message.create_ack(self.mode))
            elif self.mode == "AR with error":
                ack = str(message.create_ack("AR")) + "ERR|||200^Unsupported message type^HL70357|E||||no MDM here\r"
                writer.writeblock(ack.encode())
            elif self.mode == "garbage":
                writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            elif self.mode == "another message":
                ack = str(message.create_ack("AA")).replace(
                    f"MSA|AA|{message.segment('MSH')(10)}", "MSA|AA|SOMEONE-ELSE")
                writer.writeblock(ack.encode())
            elif self.mode == "silence":
                await asyncio.sleep(5)
            await writer.drain()
        finally:
            writer.close()

    async def _shutdown(self) -> None:
        self.server.close()
        serving = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in serving:  # a silent handler still sleeping
            task.cancel()
        await asyncio.gather(*serving, return_exceptions=True)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()
