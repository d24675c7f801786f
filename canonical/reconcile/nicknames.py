"""Given-name equivalence: a built-in table of common short forms and the formal names they stand
for. A name's roots are the formal names it may be short for (itself included), so that "Bill" and
"William" share a root while "Alex" may be Alexander or Alexandra. Keys and values are folded
lower-case ASCII, as normalize.given_name() makes them."""
from __future__ import annotations

from functools import lru_cache

from rapidfuzz.distance import OSA

# formal name -> short forms people use for it; extend freely (data, not code).
_SHORT_FORMS = {
    "abigail": "abby abbie gail", "alexander": "alex alec sasha sandy xander", "alexandra": "alex lexi sasha sandra",
    "alejandro": "alex alejo", "andrew": "andy drew", "anthony": "tony ant", "barbara": "barb barbie babs",
    "benjamin": "ben benny benji", "catherine": "cathy cat kate katie", "charles": "charlie chuck chas",
    "christina": "chris tina", "christine": "chris tina", "christopher": "chris kit topher",
    "cynthia": "cindy", "daniel": "dan danny", "david": "dave davey", "deborah": "debbie deb debra",
    "dmitri": "dima", "donald": "don donny", "dorothy": "dot dottie dora", "douglas": "doug",
    "edward": "ed eddie ted ned", "eduardo": "lalo eddie", "ekaterina": "katya katia", "eleanor": "ellie nell nora",
    "elizabeth": "liz lizzie beth betty eliza libby", "francis": "frank fran", "francisco": "paco pancho frank",
    "frederick": "fred freddie", "gabriel": "gabe", "gabriella": "gabby ella", "giuseppe": "beppe peppe",
    "gregory": "greg", "guillermo": "memo willy", "henry": "hank harry hal", "isabella": "bella izzy isa",
    "jacqueline": "jackie", "james": "jim jimmy jamie", "jennifer": "jen jenny", "jessica": "jess jessie",
    "johannes": "hans jan", "john": "johnny jack", "jonathan": "jon jonny", "joseph": "joe joey",
    "josephine": "jo josie", "jose": "pepe", "joshua": "josh", "judith": "judy", "katherine": "kate kathy katie kat",
    "kenneth": "ken kenny", "kimberly": "kim", "lawrence": "larry", "margaret": "peggy maggie meg marge",
    "matthew": "matt", "michael": "mike mikey mick", "mohammed": "mo", "nathaniel": "nate nat",
    "nicholas": "nick nicky", "pamela": "pam", "patricia": "pat trish patty tricia", "peter": "pete",
    "philip": "phil", "raymond": "ray", "rebecca": "becky becca", "richard": "dick rick rich ricky",
    "robert": "bob rob bobby robbie", "roberto": "beto", "ronald": "ron ronnie", "samantha": "sam sammy",
    "samuel": "sam sammy", "stephen": "steve", "steven": "steve", "susan": "sue susie", "theodore": "ted teddy theo",
    "thomas": "tom tommy", "timothy": "tim timmy", "victoria": "vicky tori", "william": "bill will billy willy liam",
    "zachary": "zach zack",
}


def _build() -> dict[str, frozenset[str]]:
    roots: dict[str, set[str]] = {}
    for formal, shorts in _SHORT_FORMS.items():
        roots.setdefault(formal, set()).add(formal)
        for short in shorts.split():
            roots.setdefault(short, set()).add(formal)
    return {name: frozenset(found) for name, found in roots.items()}


_ROOTS = _build()


@lru_cache(maxsize=65536)
def roots(given: str) -> frozenset[str]:
    """The formal names `given` may stand for; a name the table does not know is its own root."""
    return _ROOTS.get(given, frozenset((given,)))


def same_person_name(a: str, b: str) -> bool:
    """True when two folded given names can be one person's: equal, or sharing a root."""
    return a == b or not roots(a).isdisjoint(roots(b))


@lru_cache(maxsize=65536)
def slip_roots(given: str) -> frozenset[str]:
    """The roots of the table's names one slip (a letter dropped, doubled, swapped or changed) away
    from `given`: 'vcky' and 'bbo' are Vicky and Bob mistyped. A short form is typed as carelessly
    as a formal name, but only the formal name's slip is close to it in letters ('Vcky' is far from
    'Victoria'). Three letters at least: two-letter names are a slip away from too much."""
    if len(given) < 3:
        return frozenset()
    found: set[str] = set()
    for name, formal in _ROOTS.items():
        if name != given and abs(len(name) - len(given)) <= 1 and OSA.distance(name, given, score_cutoff=1) <= 1:
            found |= formal
    return frozenset(found)
