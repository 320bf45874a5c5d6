/**
 * A small embedded English corpus (written for this project) that the builder learns BPE merges from, so a
 * built model's tokenizer splits everyday and game-world text into sensible pieces without any download.
 */
export const EMBEDDED_CORPUS = `
Welcome to the village of Ashford, traveler. The road from the river is long, and the night is cold.
The blacksmith works at the forge near the market square. She sells swords, shields, nails and horseshoes.
If you need a room, the innkeeper at the Golden Lantern has beds for five silver coins a night.
The guards stand at the north gate from dawn until dusk. They do not let strangers pass after dark.
Have you seen the old mill by the water? Nobody has worked there since the flood of the last spring.
I heard the miller's daughter went into the forest and came back with a map of the hidden caves.
The caves are dangerous. Wolves hunt in the hills, and the bridge over the gorge is broken.
What do you want to buy? I have bread, cheese, apples, dried fish, rope, lanterns and a little oil.
Thank you for your help. Take this key; it opens the chest in the cellar of the tower.
Hello there! Good morning. Good evening. Farewell, and may the wind be at your back.
The king has gone to war in the east, and the queen rules the city while he is away.
Our harvest was poor this year. The rain came too late, and the wheat is thin and yellow.
Follow the path past the well, turn left at the chapel, and walk until you see the stone wall.
Please, can you bring me three herbs from the meadow? My brother is sick and the healer is far away.
I am the keeper of the library. Books about the old kings are on the second floor.
Do not touch the statue in the garden. People say it moves when the moon is full.
A merchant from the southern islands arrived today with silk, spices and strange glass bottles.
The tavern is loud tonight; the bard is singing about the dragon that slept under the mountain.
We trade furs for salt and iron. Winter is coming, and the children need warm clothes.
My name is Mira. I look after the horses in the stable, and I know every trail in the valley.
Is it true that you fought the bandits on the western road? Everyone in town is talking about it.
You may rest here, but leave your weapons by the door. This is a house of peace.
The quest is simple: find the lost ring, return it to the priest, and you will be rewarded.
Why are you here? Speak quickly, I have little time and much work to finish before sunset.
The fisherman says the lake was frozen for forty days, the longest winter anyone remembers.
He walked to the harbor, looked at the ships, and decided to sail north in the morning.
They found gold in the river, and the whole town rushed to the water with pans and baskets.
She laughed and said, "You will never find the treasure without the second half of the map."
Count the days: one, two, three, four, five, six, seven. The festival starts on the eighth day.
In 1204 the wall was built; in 1350 it fell; in 1402 the people of the valley built it again.
The price is 12 gold, or 10 if you bring back the empty barrels when you are done.
I can teach you to fight with a spear, to ride a horse, and to read the stars at night.
Listen carefully. When the bell rings twice, close the gate. When it rings three times, run.
Nothing is free in this city, friend. Information costs money, and good information costs more.
This potion heals small wounds. That one makes you sleep. Never drink the blue one.
The wizard lives alone in the tower by the sea. He speaks to birds and writes in an old language.
We should leave before the storm arrives. The clouds over the mountains are already black.
Yes, I remember you. You helped my father repair the roof of the barn last summer.
No, I will not sell it. This sword belonged to my mother, and her mother before her.
Where is the captain? He was supposed to meet us here at noon with the rest of the soldiers.
Be careful on the stairs; the third step is loose, and the candles have burned out.
The market opens early. Farmers bring carrots, onions, potatoes, eggs, milk and honey.
Every story in this land begins with a journey and ends with someone coming home.
`;
