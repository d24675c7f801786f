"""Built-in reference data for the generated world: given and family names from many cultures,
nicknames, places (US and elsewhere) with their telephone numbering, street names and email
domains. Plain Python literals so that the generator needs no files and no network."""
from __future__ import annotations

# Given names that have common short forms. The map is keyed by the formal name only: the
# matching engine has to learn that "Bill" and "William" are one person, not their gender.
NICKNAMES: dict[str, tuple[str, ...]] = {
    "William": ("Bill", "Will", "Billy"),
    "Robert": ("Bob", "Rob", "Bobby"),
    "Elizabeth": ("Liz", "Beth", "Betty"),
    "Margaret": ("Peggy", "Maggie", "Meg"),
    "Katherine": ("Kate", "Kathy", "Katie"),
    "Catherine": ("Cathy", "Cat"),
    "Alexander": ("Alex", "Sasha"),
    "Alexandra": ("Alex", "Lexi"),
    "Jonathan": ("Jon",),
    "Michael": ("Mike", "Mikey"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "Richard": ("Dick", "Rick", "Rich"),
    "Anthony": ("Tony",),
    "Joseph": ("Joe", "Joey"),
    "Thomas": ("Tom", "Tommy"),
    "Christopher": ("Chris",),
    "Christine": ("Chris", "Tina"),
    "Daniel": ("Dan", "Danny"),
    "Matthew": ("Matt",),
    "Patricia": ("Pat", "Trish", "Patty"),
    "Jennifer": ("Jen", "Jenny"),
    "Susan": ("Sue", "Susie"),
    "Deborah": ("Debbie", "Deb"),
    "Rebecca": ("Becky", "Becca"),
    "Samantha": ("Sam",),
    "Samuel": ("Sam",),
    "Benjamin": ("Ben", "Benny"),
    "Nicholas": ("Nick",),
    "Edward": ("Ed", "Ted", "Eddie"),
    "Charles": ("Charlie", "Chuck"),
    "Andrew": ("Andy", "Drew"),
    "Theodore": ("Ted", "Teddy", "Theo"),
    "Victoria": ("Vicky", "Tori"),
    "Steven": ("Steve",),
    "Stephen": ("Steve",),
    "Timothy": ("Tim",),
    "Gregory": ("Greg",),
    "Jeffrey": ("Jeff",),
    "Kenneth": ("Ken", "Kenny"),
    "Ronald": ("Ron",),
    "Donald": ("Don",),
    "Lawrence": ("Larry",),
    "Raymond": ("Ray",),
    "Dorothy": ("Dot", "Dottie"),
    "Barbara": ("Barb",),
    "Jessica": ("Jess",),
    "Abigail": ("Abby",),
    "Frederick": ("Fred",),
    "Francis": ("Frank",),
    "Henry": ("Hank", "Harry"),
    "Jacqueline": ("Jackie",),
    "Judith": ("Judy",),
    "Kimberly": ("Kim",),
    "Pamela": ("Pam",),
    "Cynthia": ("Cindy",),
    "Zachary": ("Zach",),
    "Joshua": ("Josh",),
    "Nathaniel": ("Nate", "Nat"),
    "Peter": ("Pete",),
    "Philip": ("Phil",),
    "Douglas": ("Doug",),
    "Eleanor": ("Ellie", "Nell"),
    "Josephine": ("Jo", "Josie"),
    "Isabella": ("Bella", "Izzy"),
    "Gabriel": ("Gabe",),
    "Francisco": ("Paco", "Pancho"),
    "José": ("Pepe",),
    "Alejandro": ("Alex", "Alejo"),
    "Guillermo": ("Memo",),
    "Roberto": ("Beto",),
    "Eduardo": ("Lalo",),
    "Dmitri": ("Dima",),
    "Ekaterina": ("Katya",),
    "Mohammed": ("Mo",),
    "Giuseppe": ("Beppe",),
    "Johannes": ("Hans", "Jan"),
}

GIVEN_NAMES: tuple[str, ...] = tuple(NICKNAMES) + (
    "Maria", "Ana", "John", "Sofia", "Lucia", "Emma", "David", "Olivia", "Ava", "Mia",
    "Charlotte", "Amelia", "Harper", "Evelyn", "Mark", "Paul", "Emily", "Sara", "Noah", "Liam",
    "Ethan", "Grace", "Chloe", "Laura", "Brian", "Kevin", "Linda", "Karen", "Nancy", "Lisa",
    "Kenji", "Yuki", "Hiroshi", "Aiko", "Wei", "Mei", "Jing", "Arjun", "Priya", "Ananya",
    "Rahul", "Omar", "Fatima", "Ahmed", "Leila", "Aisha", "Yusuf", "Ivan", "Olga", "Pierre",
    "Chloé", "Zoë", "Björn", "Søren", "Ngozi", "Chidi", "Oluwaseun", "Kwame", "Ama", "Mateo",
    "Valentina", "Camila", "Hugo", "Inès", "Łukasz", "Katarzyna", "Renée", "Siobhán", "Seán",
    "François", "Zoltán", "Eszter", "Raúl", "Inés", "Thanh", "Linh", "Min-jun", "Ji-woo",
    "Emre", "Elif",
)

# Family names. The first group is very common (it is drawn more often) so that the matcher
# meets many unrelated people who share a name; the rest spread over many cultures and
# include the awkward ones: particles, apostrophes, hyphens and letters outside ASCII.
COMMON_FAMILY_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Lee",
    "Nguyen", "Kim", "Silva", "Lima", "Müller", "Patel", "Wang", "Li", "Chen",
)

FAMILY_NAMES: tuple[str, ...] = COMMON_FAMILY_NAMES + (
    # English-speaking
    "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Thompson", "White", "Harris", "Clark",
    "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Hill",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Campbell", "Mitchell", "Carter", "Roberts",
    "Turner", "Phillips", "Evans", "Collins", "Stewart", "Morris", "Murphy", "Cook", "Rogers",
    "Morgan", "Cooper", "Peterson", "Reed", "Bailey", "Bell", "Kelly", "Howard", "Ward", "Cox",
    "Richardson", "Wood", "Watson", "Brooks", "Bennett", "Gray", "Hughes", "Price", "Sanders",
    "Myers", "Long", "Ross", "Foster", "Powell", "Jenkins", "Perry", "Russell", "Sullivan",
    "Fisher", "Henderson", "Coleman", "Simmons", "Patterson", "Jordan", "Reynolds", "Hamilton",
    "Graham", "Wallace", "O'Brien", "O'Connor", "O'Neill", "McDonald", "MacLeod", "Fitzgerald",
    "Smith-Jones", "Ashworth", "Pemberton", "Whitfield",
    # Spanish and Portuguese
    "Sánchez", "Pérez", "Gómez", "Martín", "Díaz", "Núñez", "Ramírez", "Flores", "Torres",
    "Rivera", "Morales", "Ortiz", "Gutiérrez", "Chávez", "Ramos", "Ruiz", "Álvarez", "Romero",
    "Jiménez", "Vargas", "Castillo", "Mendoza", "de la Cruz", "Fernández", "Iglesias",
    "Santos", "Oliveira", "Souza", "Costa", "Pereira", "Carvalho", "Almeida", "Ferreira",
    "Rodrigues", "Gonçalves", "Araújo", "da Silva", "dos Santos", "Magalhães",
    # German, Dutch, Scandinavian
    "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
    "Hoffmann", "Schröder", "Koch", "Richter", "Klein", "Wolf", "Neumann", "Schwarz",
    "Zimmermann", "Krüger", "Hartmann", "Weiß", "Jäger", "van der Berg", "de Vries",
    "Jansen", "Bakker", "Visser", "Smit", "de Jong", "van Dijk", "Janssens", "Andersson",
    "Johansson", "Karlsson", "Nilsson", "Lindqvist", "Åberg", "Hansen", "Jensen",
    "Søndergaard", "Ødegård", "Virtanen", "Korhonen",
    # French and Italian
    "Dubois", "Durand", "Lefèvre", "Moreau", "Laurent", "Girard", "Bonnet", "Dupont",
    "Lambert", "Fontaine", "Rousseau", "Château", "Rossi", "Russo", "Ferrari", "Esposito",
    "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno", "Gallo", "Conti",
    "De Luca", "D'Angelo",
    # Central and Eastern European
    "Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski",
    "Zieliński", "Woźniak", "Dąbrowski", "Kozłowski", "Brzęczyszczykiewicz", "Dvořák",
    "Novák", "Svoboda", "Horváth", "Nagy", "Tóth", "Kovačević", "Jovanović", "Petrović",
    "Ivanov", "Smirnov", "Kuznetsov", "Popov", "Volkov", "Sokolova", "Shevchenko",
    "Kovalenko", "Popescu", "Ionescu",
    # Turkish, Arabic, Persian
    "Yılmaz", "Kaya", "Demir", "Çelik", "Şahin", "Öztürk", "Aydın", "Haddad", "Khoury",
    "Mansour", "Nasser", "Rahman", "Hussein", "Abdullah", "Farouk", "Hosseini", "Ahmadi",
    "Karimi", "Rezaei",
    # South Asian
    "Sharma", "Singh", "Kumar", "Gupta", "Reddy", "Iyer", "Nair", "Chatterjee", "Banerjee",
    "Mehta", "Desai", "Joshi", "Khan", "Chowdhury", "Rao",
    # East and Southeast Asian
    "Zhang", "Liu", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma", "Tanaka",
    "Suzuki", "Takahashi", "Watanabe", "Yamamoto", "Nakamura", "Kobayashi", "Sato", "Ito",
    "Park", "Choi", "Jung", "Kang", "Cho", "Yoon", "Tran", "Le", "Pham", "Hoang", "Phan",
    "Vu", "Dang", "Bui", "Santos-Reyes", "Reyes", "Cruz", "Bautista", "Tan", "Lim", "Wong",
    # African
    "Okafor", "Okonkwo", "Adeyemi", "Oyelaran-Okafor", "Balogun", "Eze", "Mensah", "Owusu",
    "Boateng", "Asante", "Kamau", "Otieno", "Mwangi", "Ndlovu", "Dlamini", "Nkosi",
    "Mahlangu", "Tshabalala", "Diallo", "Traoré", "Keita", "Haile", "Tesfaye", "Bekele",
)

# (city, state, ZIP, area code): the area code keeps a person's phone plausible for where they live.
US_PLACES: tuple[tuple[str, str, str, str], ...] = (
    ("New York", "NY", "10001", "212"), ("Brooklyn", "NY", "11201", "718"),
    ("Buffalo", "NY", "14201", "716"), ("Los Angeles", "CA", "90012", "213"),
    ("San Francisco", "CA", "94103", "415"), ("San Diego", "CA", "92101", "619"),
    ("Sacramento", "CA", "95814", "916"), ("Oakland", "CA", "94612", "510"),
    ("San Jose", "CA", "95113", "408"), ("Fresno", "CA", "93721", "559"),
    ("Chicago", "IL", "60601", "312"), ("Springfield", "IL", "62701", "217"),
    ("Houston", "TX", "77002", "713"), ("Dallas", "TX", "75201", "214"),
    ("Austin", "TX", "78701", "512"), ("San Antonio", "TX", "78205", "210"),
    ("El Paso", "TX", "79901", "915"), ("Phoenix", "AZ", "85004", "602"),
    ("Tucson", "AZ", "85701", "520"), ("Philadelphia", "PA", "19103", "215"),
    ("Pittsburgh", "PA", "15222", "412"), ("Jacksonville", "FL", "32202", "904"),
    ("Miami", "FL", "33130", "305"), ("Tampa", "FL", "33602", "813"),
    ("Orlando", "FL", "32801", "407"), ("Columbus", "OH", "43215", "614"),
    ("Cleveland", "OH", "44114", "216"), ("Cincinnati", "OH", "45202", "513"),
    ("Indianapolis", "IN", "46204", "317"), ("Charlotte", "NC", "28202", "704"),
    ("Raleigh", "NC", "27601", "919"), ("Seattle", "WA", "98101", "206"),
    ("Spokane", "WA", "99201", "509"), ("Denver", "CO", "80202", "303"),
    ("Boulder", "CO", "80302", "720"), ("Washington", "DC", "20001", "202"),
    ("Boston", "MA", "02108", "617"), ("Worcester", "MA", "01608", "508"),
    ("Nashville", "TN", "37203", "615"), ("Memphis", "TN", "38103", "901"),
    ("Detroit", "MI", "48226", "313"), ("Grand Rapids", "MI", "49503", "616"),
    ("Portland", "OR", "97204", "503"), ("Las Vegas", "NV", "89101", "702"),
    ("Reno", "NV", "89501", "775"), ("Louisville", "KY", "40202", "502"),
    ("Baltimore", "MD", "21202", "410"), ("Milwaukee", "WI", "53202", "414"),
    ("Madison", "WI", "53703", "608"), ("Albuquerque", "NM", "87102", "505"),
    ("Atlanta", "GA", "30303", "404"), ("Savannah", "GA", "31401", "912"),
    ("Kansas City", "MO", "64106", "816"), ("St. Louis", "MO", "63101", "314"),
    ("Omaha", "NE", "68102", "402"), ("Minneapolis", "MN", "55401", "612"),
    ("New Orleans", "LA", "70112", "504"), ("Salt Lake City", "UT", "84101", "801"),
    ("Honolulu", "HI", "96813", "808"), ("Anchorage", "AK", "99501", "907"),
    ("Burlington", "VT", "05401", "802"), ("Portland", "ME", "04101", "207"),
    ("Providence", "RI", "02903", "401"), ("Newark", "NJ", "07102", "973"),
    ("Richmond", "VA", "23219", "804"), ("Boise", "ID", "83702", "208"),
)

# (city, region, postcode, ISO-2 country, calling code, first digits of local numbers,
#  street line with {n} for the house number, currency). Canada shares +1 with the US.
INTL_PLACES: tuple[tuple[str, str, str, str, str, str, str, str], ...] = (
    ("London", "England", "SW1A 1AA", "GB", "44", "20", "{n} High Street", "GBP"),
    ("Manchester", "England", "M1 1AE", "GB", "44", "161", "{n} Deansgate", "GBP"),
    ("Dublin", "Leinster", "D02 X285", "IE", "353", "1", "{n} O'Connell Street", "EUR"),
    ("Toronto", "ON", "M5V 2T6", "CA", "1", "416", "{n} King Street West", "CAD"),
    ("Vancouver", "BC", "V6B 1A1", "CA", "1", "604", "{n} Granville Street", "CAD"),
    ("Montréal", "QC", "H2Y 1C6", "CA", "1", "514", "{n} Rue Sainte-Catherine", "CAD"),
    ("Sydney", "NSW", "2000", "AU", "61", "2", "{n} George Street", "AUD"),
    ("Melbourne", "VIC", "3000", "AU", "61", "3", "{n} Collins Street", "AUD"),
    ("Berlin", "Berlin", "10115", "DE", "49", "30", "Hauptstraße {n}", "EUR"),
    ("München", "Bayern", "80331", "DE", "49", "89", "Leopoldstraße {n}", "EUR"),
    ("Paris", "Île-de-France", "75001", "FR", "33", "1", "{n} Rue de Rivoli", "EUR"),
    ("Madrid", "Madrid", "28013", "ES", "34", "91", "Calle Mayor {n}", "EUR"),
    ("Barcelona", "Catalunya", "08002", "ES", "34", "93", "Carrer de Balmes {n}", "EUR"),
    ("São Paulo", "SP", "01310-100", "BR", "55", "11", "Rua Augusta, {n}", "BRL"),
    ("Rio de Janeiro", "RJ", "20040-020", "BR", "55", "21", "Rua do Ouvidor, {n}", "BRL"),
    ("Ciudad de México", "CDMX", "06000", "MX", "52", "55", "Avenida Juárez {n}", "MXN"),
    ("Warszawa", "Mazowieckie", "00-001", "PL", "48", "22", "ul. Marszałkowska {n}", "PLN"),
    ("Amsterdam", "Noord-Holland", "1012 JS", "NL", "31", "20", "Damrak {n}", "EUR"),
    ("Lagos", "Lagos", "100001", "NG", "234", "1", "{n} Awolowo Road", "NGN"),
    ("Tokyo", "Tokyo", "100-0001", "JP", "81", "3", "Marunouchi 1-{n}", "JPY"),
    ("Seoul", "Seoul", "04524", "KR", "82", "2", "{n} Sejong-daero", "KRW"),
    ("Stockholm", "Stockholm", "111 52", "SE", "46", "8", "Drottninggatan {n}", "SEK"),
    ("İstanbul", "İstanbul", "34430", "TR", "90", "212", "İstiklal Caddesi No:{n}", "TRY"),
    ("Mumbai", "MH", "400001", "IN", "91", "22", "{n} MG Road", "INR"),
)

STREET_NAMES: tuple[str, ...] = (
    "Oak", "Maple", "Cedar", "Pine", "Elm", "Washington", "Lake", "Hill", "Park", "Main",
    "Church", "High", "Sunset", "Highland", "Jefferson", "Lincoln", "Madison", "Franklin",
    "Chestnut", "Walnut", "Spring", "River", "Meadow", "Forest", "Willow", "Birch", "Cherry",
    "Dogwood", "Magnolia", "Ridge", "Valley", "Bay", "Harbor", "Mill", "Union", "Market",
    "Broad", "Martin Luther King Jr", "Cesar Chavez", "Peachtree",
)

# Street types as a person writes them in full, and the abbreviations systems end up holding.
STREET_TYPES: dict[str, tuple[str, ...]] = {
    "Street": ("St.", "St", "ST"),
    "Avenue": ("Ave.", "Ave", "AVE"),
    "Road": ("Rd.", "Rd"),
    "Boulevard": ("Blvd.", "Blvd"),
    "Drive": ("Dr.", "Dr"),
    "Lane": ("Ln.", "Ln"),
    "Court": ("Ct.", "Ct"),
    "Place": ("Pl.", "Pl"),
    "Terrace": ("Ter.", "Terr"),
}

UNIT_PREFIXES: tuple[str, ...] = ("Apt", "Apt.", "Unit", "Suite", "#")

# Weighted by repetition: most people use one of a few free providers.
FREE_EMAIL_DOMAINS: tuple[str, ...] = (
    ("gmail.com",) * 8 + ("yahoo.com",) * 3 + ("outlook.com",) * 2 + ("hotmail.com",) * 2
    + ("icloud.com",) * 2 + ("proton.me", "aol.com", "gmx.de", "web.de", "yahoo.co.uk",
                             "btinternet.com", "uol.com.br", "naver.com", "free.fr")
)

COMPANY_EMAIL_DOMAINS: tuple[str, ...] = (
    "acme-corp.com", "northwind.io", "globex.com", "initech.com", "umbrella-health.org",
    "contoso.com", "fabrikam.net", "brightlane.co", "hooli.xyz", "stark-industries.com",
    "wayne-enterprises.com", "pied-piper.io", "vandelay.biz", "soylent.co", "tyrell.tech",
)

_FOLDS = {
    "áàâäãåāą": "a", "çćč": "c", "ď": "d", "éèêëěęē": "e", "íìîïī": "i", "ı": "i", "ł": "l",
    "ñńň": "n", "óòôöõøő": "o", "řŕ": "r", "śšş": "s", "ťţ": "t", "úùûüůűū": "u", "ýÿ": "y",
    "źżž": "z", "ğ": "g", "ß": "ss", "æ": "ae", "œ": "oe", "đ": "d", "İ": "I",
}


def _fold_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for letters, plain in _FOLDS.items():
        for letter in letters:
            table[ord(letter)] = plain
            upper = letter.upper()
            # Skip letters whose upper case is ASCII already ("ı" -> "I") or not one letter ("ß").
            if len(upper) == 1 and not upper.isascii():
                table[ord(upper)] = plain.capitalize()
    return table


ASCII_FOLD = _fold_table()


def fold(text: str) -> str:
    """The text with its accents dropped, the way many forms and older systems store names."""
    return text.translate(ASCII_FOLD)
