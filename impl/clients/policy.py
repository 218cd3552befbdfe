"""A provider's own terms for joining a session: its join policy.

The contract enforces a floor for every session; a provider may ask for more before
it commits a deposit and its data: enough time to answer at each step, a deposit
it is willing to risk against the reward, a reward worth the trouble. A session
whose terms fall short is skipped, with the reason in one log line
(`hyperx provider join --min-review-s … --max-deposit-bps …`; README, "Join policy").
"""

from dataclasses import dataclass

BPS = 10_000


@dataclass(frozen=True)
class JoinPolicy:
    min_review_s: int = 600  # cf_review_s at least this: time to review and answer
    min_claim_s: int = 600  # cf_claim_s at least this: time to reveal every key
    min_evaluation_left_s: int = 120  # time left, at joining, before cf_evaluation_deadline
    max_deposit_bps: int = 1_000  # cf_deposit at most this share of cf_reward (basis points)
    min_reward_wei: int = 0  # cf_reward at least this

    def refusal(self, terms: dict, now: int) -> str | None:
        """Why a session with these CreateSession terms is not worth joining now, or None."""
        left = terms["cf_evaluation_deadline"] - now
        if left < self.min_evaluation_left_s:
            return (
                f"{max(left, 0)} s left before its evaluation deadline, the policy wants"
                f" {self.min_evaluation_left_s} s (--min-evaluation-s)"
            )
        if terms["cf_review_s"] < self.min_review_s:
            return (
                f"cf_review_s {terms['cf_review_s']} s is below the policy's"
                f" {self.min_review_s} s (--min-review-s)"
            )
        if terms["cf_claim_s"] < self.min_claim_s:
            return (
                f"cf_claim_s {terms['cf_claim_s']} s is below the policy's"
                f" {self.min_claim_s} s (--min-claim-s)"
            )
        if terms["cf_reward"] < self.min_reward_wei:
            return (
                f"cf_reward {terms['cf_reward']} wei is below the policy's"
                f" {self.min_reward_wei} wei (--min-reward-wei)"
            )
        if terms["cf_deposit"] * BPS > terms["cf_reward"] * self.max_deposit_bps:
            return (
                f"cf_deposit {terms['cf_deposit']} wei is more than {self.max_deposit_bps} bps"
                f" of cf_reward {terms['cf_reward']} wei (--max-deposit-bps)"
            )
        return None
