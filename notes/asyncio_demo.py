# The lab 2 / lab 3 / lab 4 lesson in asyncio, with the simulator profile.
# Run: python3 notes/asyncio_demo.py
import asyncio, time

DELAYS = [0.15, 0.15, 0.25, 0.40, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25]

async def download(d):            # cooperative: like fetch() after io_patch()
    await asyncio.sleep(d)

async def download_blocking(d):   # a blocking call inside a coroutine: lab 2
    time.sleep(d)

async def sequential():           # lab 3's handler: await one after another
    for d in DELAYS:
        await download(d)

async def gathered(fn):           # lab 4's handler: spawn all, then join
    await asyncio.gather(*(fn(d) for d in DELAYS))

async def timed(name, coro):
    t = time.monotonic()
    await coro
    print(f"{name:32} {time.monotonic() - t:.2f} s")

async def main():
    await timed("sequential awaits (lab 3)", sequential())
    await timed("gather, awaited (lab 4)", gathered(download))
    await timed("gather, time.sleep (lab 2)", gathered(download_blocking))

asyncio.run(main())
