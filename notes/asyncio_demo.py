# The labs' lesson in asyncio, with the simulator profile: exercise 7
# asks which lab each of the three lines mirrors.
# Run: python3 notes/asyncio_demo.py
import asyncio, time

DELAYS = [0.15, 0.15, 0.25, 0.40, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25]

async def download(d):            # waits with await
    await asyncio.sleep(d)

async def download_blocking(d):   # waits with time.sleep
    time.sleep(d)

async def sequential():           # one after another
    for d in DELAYS:
        await download(d)

async def gathered(fn):           # all at once, then wait for all
    await asyncio.gather(*(fn(d) for d in DELAYS))

async def timed(name, coro):
    t = time.monotonic()
    await coro
    print(f"{name:32} {time.monotonic() - t:.2f} s")

async def main():
    await timed("sequential awaits", sequential())
    await timed("gather, awaited", gathered(download))
    await timed("gather, time.sleep", gathered(download_blocking))

asyncio.run(main())
