"""Timing shared by the benchmarks: device sync, one timed call, interleaved rounds, summaries."""
import statistics
import time
from typing import Callable, Dict, List, Mapping, Optional


def sync(device: str) -> None:
    """Wait for queued GPU work, so that a wall-clock interval covers it (no-op on CPU)."""
    if device.startswith('cuda'):
        import torch
        torch.cuda.synchronize()


def time_once(fn: Callable[[], object], device: str) -> float:
    """Seconds one call of ``fn`` takes, device work included."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def summarize(times: List[float]) -> Dict[str, float]:
    """Median, quartiles (inclusive method), min, max and count of a list of seconds."""
    q1, q3 = (statistics.quantiles(times, n=4, method='inclusive')[i] for i in (0, 2)) if len(times) > 1 \
        else (times[0], times[0])
    return dict(median_s=statistics.median(times), q1_s=q1, q3_s=q3, min_s=min(times), max_s=max(times), n=len(times))


def interleaved(entries: Mapping[str, Callable[[], object]], repeats: int, warmup: int, device: str,
                log: Optional[Callable[[str], None]] = None) -> Dict[str, Dict[str, float]]:
    """Time every entry ``repeats`` times, taking turns (rotating order), after ``warmup`` calls each.

    Example:
        >>> stats = interleaved({'a': lambda: None, 'b': lambda: None}, repeats=3, warmup=1, device='cpu')
        >>> sorted(stats), stats['a']['n']
        (['a', 'b'], 3)
    """
    keys = list(entries)
    for key in keys:
        for _ in range(warmup):
            entries[key]()
    times: Dict[str, List[float]] = {k: [] for k in keys}
    for r in range(repeats):
        for key in keys[r % len(keys):] + keys[:r % len(keys)]:
            times[key].append(time_once(entries[key], device))
        if log is not None:
            log(f'  round {r + 1}/{repeats}: ' + ', '.join(f'{k} {times[k][-1] * 1e3:.0f} ms' for k in keys))
    return {k: summarize(v) for k, v in times.items()}
