"""Models sharded over several processes with mx.distributed.

The runtime is rank 0: it starts the other ranks (ranks.py), forms the group
and loads its shard (loader.py); every step of the model's batch is run on
all ranks in lockstep, rank 0 telling the followers what to do through the
group's own collectives (channel.py, lockstep.py, follower.py). group.py
watches the ranks and turns a death or a hang into RANK_FAILED.
"""
