"""Fetch the published raw files from the gated Hub repo praiselab-picuslab/IMB."""

from __future__ import annotations

RAW_REPO_ID = "praiselab-picuslab/IMB"


def download_raw(filename: str, repo_id: str = RAW_REPO_ID,
                 way_out: str = "pass a local file with --raw PATH") -> str:
    """Local path of a raw file, downloaded (and cached) with the user's Hub token.

    way_out: what the offline error tells the caller to do instead, in the caller's terms
    (a CLI option for `imb build`, a function argument for a Python caller)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError,
    )

    from imb_tools.infra.errors import ImbError

    page = f"https://huggingface.co/datasets/{repo_id}"
    try:
        return hf_hub_download(repo_id=repo_id, filename=filename, repo_type="dataset")
    except GatedRepoError:
        raise ImbError(f"{repo_id} is gated and this account has no access yet: accept its terms at "
                       f"{page}, then log in ('hf auth login' or HF_TOKEN)") from None
    except RepositoryNotFoundError:
        raise ImbError(f"{repo_id} not found or not visible without a token: log in "
                       f"('hf auth login' or HF_TOKEN) after accepting the terms at {page}") from None
    except LocalEntryNotFoundError:
        raise ImbError(f"cannot reach the Hub to fetch {filename} from {repo_id} and it is not cached; "
                       f"{way_out}") from None
    except HfHubHTTPError as exc:
        raise ImbError(f"fetching {filename} from {repo_id} failed: "
                       f"{str(exc).splitlines()[0]}") from None
