/*
BISMILLAAHIRRAHMAANIRRAHIIM - In the Name of Allah, Most Gracious, Most Merciful
================================================================================
filename  : db/kec/wilayah_boundaries_kec_34.sql
desc      : Data wilayah_boundaries kec 34 Daerah Istimewa Yogyakarta
created_at: 2024-11-25 10:21:45
updated_at: 2026-07-29 13:27:00
author    : cahya dsn
================================================================================
MIT License

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.

copyright (c) 2025 by cahya dsn; cahyadsn@gmail.com
================================================================================
*/
INSERT INTO wilayah_boundaries(kode,nama,lat,lng,path) VALUES
	('34.02.02','Sanden',-7.980632222158085,110.26572933621179,'[[[-7.956992000680259,110.27176899943981],[-7.965544000255363,110.29058899858347],[-7.970554000166942,110.2842729995993],[-7.984406999583314,110.29003700010753],[-8.009103599751256,110.2751178004462],[-7.996446334430743,110.24184191976883],[-7.9685300012585,110.24275999987418],[-7.953092999841999,110.25475199980502],[-7.956992000680259,110.27176899943981]]]'),
	('34.71.01','Tegalrejo',-7.778655573141476,110.3569349937438,'[[[-7.771318901845802,110.36062694227962],[-7.768267832194681,110.36397670196328],[-7.773685889592059,110.36935670724631],[-7.781246999949019,110.35763600040116],[-7.794187000429702,110.35543999985617],[-7.793232520264553,110.34866192201014],[-7.768221533297094,110.35108077186021],[-7.771318901845802,110.36062694227962]]]'),
	('34.71.02','Jetis',-7.78284844635095,110.36413809070793,'[[[-7.774302237258382,110.3693188502848],[-7.789966000030802,110.36881999994313],[-7.7885110003823,110.35526800001827],[-7.780725000158611,110.35813399998415],[-7.774302237258382,110.3693188502848]]]');
