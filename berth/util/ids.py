"""IDs and generated names."""

from __future__ import annotations

import os

_LEFT = ("admiring adoring affectionate agitated amazing angry awesome beautiful blissful bold boring brave "
         "busy charming clever cool compassionate competent condescending confident cranky crazy dazzling "
         "determined distracted dreamy eager ecstatic elastic elated elegant eloquent epic exciting fervent "
         "festive flamboyant focused friendly frosty funny gallant gifted goofy gracious great happy hardcore "
         "heuristic hopeful hungry infallible inspiring intelligent interesting jolly jovial keen kind laughing "
         "loving lucid magical modest musing mystifying naughty nervous nice nifty nostalgic objective "
         "optimistic peaceful pedantic pensive practical priceless quirky quizzical recursing relaxed "
         "reverent romantic sad serene sharp silly sleepy stoic strange stupefied suspicious sweet tender "
         "thirsty trusting unruffled upbeat vibrant vigilant vigorous wizardly wonderful xenodochial youthful "
         "zealous zen").split()
_RIGHT = ("agnesi albattani allen almeida archimedes ardinghelli aryabhata austin babbage banach bardeen "
          "bartik bassi beaver bell benz bhabha bhaskara black blackburn blackwell bohr booth borg bose "
          "boyd brahmagupta brattain brown buck burnell cannon carson cartwright carver cerf chandrasekhar "
          "chaplygin chatelet chatterjee chaum chebyshev clarke cohen colden cori cray curie curran darwin "
          "davinci dewdney dhawan diffie dijkstra dirac driscoll dubinsky easley edison einstein elbakyan "
          "elgamal elion ellis engelbart euclid euler faraday feistel fermat fermi feynman franklin gagarin "
          "galileo galois ganguly gates gauss germain goldberg goldstine goldwasser golick goodall gould "
          "greider grothendieck haibt hamilton haslett hawking heisenberg hellman hermann herschel hertz "
          "heyrovsky hodgkin hofstadter hoover hopper hugle hypatia jackson jang jemison jennings jepsen "
          "johnson joliot jones kalam kapitsa kare keldysh keller kepler khayyam khorana kilby kirch knuth "
          "kowalevski lalande lamarr lamport leakey leavitt lederberg lehmann lewin lichterman liskov "
          "lovelace lumiere mahavira margulis matsumoto maxwell mayer mccarthy mcclintock mclaren mclean "
          "mcnulty meitner mendel mendeleev meninsky merkle mestorf mirzakhani montalcini moore morse moser "
          "murdock napier nash neumann newton nightingale nobel noether northcutt noyce panini pare pascal "
          "pasteur payne perlman pike poincare poitras proskuriakova ptolemy raman ramanujan rhodes ride "
          "ritchie robinson roentgen rosalind rubin saha sammet sanderson satoshi shamir shannon shaw "
          "shirley shockley shtern sinoussi snyder solomon spence stonebraker sutherland swanson swartz "
          "swirles taussig tesla tharp thompson torvalds tu turing varahamihira vaughan visvesvaraya "
          "volhard villani wescoff wilbur wiles williams williamson wilson wing wozniak wright wu yalow "
          "yonath zhukovsky").split()


def new_id() -> str:
    """A 64-hex ID whose 12-char prefix is never all digits (Docker's rule, so it is not a number)."""
    while True:
        hexid = os.urandom(32).hex()
        if not hexid[:12].isdigit():
            return hexid


def random_name() -> str:
    return f"{_pick(_LEFT)}_{_pick(_RIGHT)}"


def _pick(words: tuple[str, ...] | list[str]) -> str:
    # os.urandom rather than the random module: importing `random` costs ~1 ms of every `run`
    return words[int.from_bytes(os.urandom(4), "little") % len(words)]


_NAME_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_REST = _NAME_FIRST | frozenset("_.-")


def valid_name(name: str) -> bool:
    """Podman's name rule for containers and networks, [a-zA-Z0-9][a-zA-Z0-9_.-]*, without `re`
    (~3 ms to import with enum, on every start that names something)."""
    return name[:1] in _NAME_FIRST and all(ch in _NAME_REST for ch in name)
