"""WebShop-rules shopping env (``aem/WebShop-v1``, ``-v0``), as text and as a web page (``aem serve``).

Behaviour follows princeton-nlp/WebShop (docs/webshop.md) over catalogs we generate and
ship (``python -m aem_envs.webshop.generate --version v0|v1``; splits test = goals 0-499, eval = 500-1499,
train = the rest). ``v1`` (the default; ``generate_v1``) keeps attributes out of titles and gives every
target near-duplicate siblings; ``v0`` (5,000 products, 7,024 goals) is the first, easier catalog; rules
and reward are the same (docs/webshop.md). Upstream's own data files load with
``make("aem/WebShop-v1", data_dir=PATH)`` (``original.py``).

Modules: ``vocab``/``generate``/``generate_v1`` (catalogs), ``difficulty`` (v0 vs v1 statistics, shallow
shoppers), ``catalog`` (records, prices), ``search`` (BM25), ``engine`` (page
machine, text renderers), ``reward`` (score), ``env`` (gym env + oracle), ``html``/``server`` (web site),
``original`` (adapter for upstream's files).

Upstream quirks, decided one by one:

==========================================  =========================================================
quirk                                       here
==========================================  =========================================================
non-deterministic prices and ceilings       fixed: hidden prices and ceilings are drawn from seeded
                                            RNGs at generation time and shipped; same task, same text
hidden price inside a displayed range       kept (22% of products show ``$a to $b``; the reward uses the
                                            hidden draw, stored in the catalog, never shown)
weighted ``reset()`` off-by-one             not reproduced: ``reset()`` draws uniformly with
                                            ``np_random`` from the split; ``instance_id`` picks a goal
search works from every page                kept (text env), ``search_anywhere=False`` turns it off;
                                            ``admissible_actions`` lists ``search[<your query>]`` only
                                            on the search page, as verl-agent does
``click[search]`` listed but refused        refused with a message and no longer listed
``Next >`` always shown, pages past the     kept; ``< Prev`` on an item page re-runs the search and
end empty                                   clears options, on a sub-page it keeps them
selected options invisible in ``text``      departure (issue 20): every mode says ``You have clicked
                                            x.`` on the item page and marks the choice (``text``:
                                            ``x (selected)``; ``text_rich``: ``[clicked button]``;
                                            html: ``aria-checked``); Buy Now with options missing
                                            is allowed and scores lower
silent no-op on a bad action                departure: the page is unchanged but the observation
                                            starts with ``Invalid action: <why>.`` and
                                            ``is_action_valid`` is False (TextEnv contract)
parser edge cases                           kept: greedy ``name[arg]`` on the first line,
                                            case-sensitive name, argument lowercased, not stripped,
                                            text after ``]`` ignored; actions over 2,000 characters
                                            are refused before parsing
duplicate clickable texts collapse          kept in the engine; the generator never makes them
Reviews empty, Rating ``N.A.``              departure: generated products have reviews; Rating is
                                            their mean (``N.A.`` without reviews)
only the first bullet is indexed            kept (title + description + first bullet + options)
done-page leakage of the goal               fixed: the done page shows what was bought and the score,
                                            never the goal
debug search prefixes ``<r> <c> <q> <a>``   not implemented: a query is only ever keywords
lenient fuzzy matching, colour substring    kept (reward.py): ``token_set_ratio > 85`` and the first
normalisation                               alphabetical colour substring, for comparable scores
spaCy title nouns                           departure: a pinned lexical rule (reward.title_nouns)
synonym matching (unmerged PR #8)           not implemented, as on upstream master
==========================================  =========================================================
"""
