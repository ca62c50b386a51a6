"""Fixtures for tests/test_dist.c (dist.txt): the positions that
torch.utils.data.distributed.DistributedSampler hands each rank, with
shuffle=False so that they are positions in the epoch's list rather than
draws of torch's generator. The C sampler shuffles with its own generator;
the test maps these positions through its shuffle (the list a sampler of
world size 1 returns) and expects each rank's indices.

Each case (N samples, P ranks, drop_last) is stored as
dist.n<N>_p<P>_<keep|drop>.r<rank>.

Run with Debian's python3-torch: /usr/bin/python3 tests/golden/gen_dist.py
"""
from torch.utils.data.distributed import DistributedSampler

from golden import Fixtures

# Divisible, padded by less than N, padded by more than N (N < P), dropped.
CASES = [(12, 2), (10, 3), (7, 4), (2, 5), (11, 4), (5, 5)]


def main():
    fx = Fixtures("dist.txt")
    for n, ranks in CASES:
        for drop_last in (False, True):
            if drop_last and n < ranks:
                continue  # no sample for any rank: the C sampler refuses it
            tag = "drop" if drop_last else "keep"
            for rank in range(ranks):
                sampler = DistributedSampler(range(n), num_replicas=ranks, rank=rank, shuffle=False,
                                             drop_last=drop_last)
                fx.add(f"dist.n{n}_p{ranks}_{tag}.r{rank}", list(sampler))
    fx.save()


if __name__ == "__main__":
    main()
